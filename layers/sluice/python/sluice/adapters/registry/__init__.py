"""The model registry on DynamoDB: `store.Registry` (the port) composed of one repository per concern,
over the one table (`table.py`) and its items' codecs (`items.py`)."""
