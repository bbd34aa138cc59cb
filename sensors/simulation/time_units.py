"""Lengths of time in seconds, so that every part of the reef agrees on an hour and a day."""

HOUR_S = 3600.0
DAY_S = 86400.0
