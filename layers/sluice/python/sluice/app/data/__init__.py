"""Stored artifacts read back, quarantine, labelled traffic as a dataset."""
