"""The console\x27s use cases: what a signed-in business user reads and does, with their identity."""
