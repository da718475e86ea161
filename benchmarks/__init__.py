"""City-scale benchmarks: wall time and peak memory of each stage, written as JSON figures.

Benchmarks are not tests: they never fail on timing. ``python -m benchmarks --help``."""
