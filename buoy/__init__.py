"""The buoy firmware daemon: sample on schedule, keep every reading, deliver it at least once."""
