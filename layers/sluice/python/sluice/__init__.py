"""Sluice: serverless MLOps for tabular models.

`sluice.domain` is pure and knows nothing of AWS; `sluice.app` holds the use cases and the ports they
need; `sluice.adapters` is the only code that calls AWS; `sluice.entrypoints` holds the Lambda handlers'
wiring, the API and the `sluice` command; `sluice.tools` (the local stack, the demo) is for people and is
never imported by Lambda code. docs/architecture.md draws the map.
"""

__version__ = "0.1.0"
