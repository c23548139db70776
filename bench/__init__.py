"""`make bench`: benchmarks for people, never shipped; bench/run.py runs them all."""
