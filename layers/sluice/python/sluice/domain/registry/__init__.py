"""The registry's records (and the state machine's payload) and the dashboard's data."""
