"""Explanations of single predictions: Shapley values of the served ONNX model against a background
sample stored with each version (numpy and ONNX Runtime only: it runs in the inference function)."""
