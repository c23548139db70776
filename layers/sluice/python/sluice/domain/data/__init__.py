"""Tabular data: tables without pandas, the ONNX feed of features, validation against a spec, a first
spec inferred from a CSV."""
