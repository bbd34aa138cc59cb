"""Software devices that sit under the real drivers: they answer like the chips, faults included."""
