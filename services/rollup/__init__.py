"""The roll-up worker (``smartcity rollup``): 1-minute, 1-hour and 1-day aggregates of the raw readings, written to
their own retention policies, kept current as windows close and late data arrives (docs/ROLLUPS.md)."""
