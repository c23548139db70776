"""Training a candidate: the holdout split and pipeline, the fit with its threshold and fairness, ONNX
export and parity, evaluation and gates, the trivial baseline, candidate search, and where Train runs."""
