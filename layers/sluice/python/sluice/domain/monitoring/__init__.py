"""Monitoring production: capture windows, reference samples, drift (drift/)."""
