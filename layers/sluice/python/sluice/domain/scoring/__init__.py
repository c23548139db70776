"""Scoring with an exported model: ONNX Runtime sessions and feeds, batch scoring's pure part."""
