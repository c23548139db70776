"""Batch scoring: a job (start, pin, finish) and the scoring of one batch."""
