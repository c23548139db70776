"""Sluice: serverless MLOps for tabular models.

Pure domain modules (spec, validation, training, export, evaluation, drift, serving) know nothing of
AWS; `sluice.adapters` wraps AWS; `sluice.tools.cli` and `sluice.tools.local` are tools for people and are never
imported by Lambda code.
"""

__version__ = "0.1.0"
