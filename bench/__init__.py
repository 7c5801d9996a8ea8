"""Benchmarks of the live dashboard: ``python -m bench.bench`` (or ``make bench``) prints one report."""
