"""The model spec: its schema and sections, the algorithms it may name, its YAML for people."""
