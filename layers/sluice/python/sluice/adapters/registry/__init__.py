"""The model registry on DynamoDB: the table, the registry, rollout and experiment items."""
