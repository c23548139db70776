"""Ingestion: an upload becomes a spec, a dataset or a quarantine."""
