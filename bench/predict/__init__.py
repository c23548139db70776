"""PredictFunction's budgets (docs/benchmarks.md), each against its baselines in the same run: warm
latency (bench.predict.warm), built size (bench.predict.size) and cold start (bench.predict.cold), run
with `python -m` from the repository root; `make bench` runs all three."""
