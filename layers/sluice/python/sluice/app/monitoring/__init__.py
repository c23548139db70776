"""The scheduled drift check: check (the loop), assess, act, retrain."""
