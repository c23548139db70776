"""Serving: the production model (production.py), and during a live rollout (live.py)."""
