"""Reading and steering the registry: the catalog, the dashboard, a version's experiments."""
