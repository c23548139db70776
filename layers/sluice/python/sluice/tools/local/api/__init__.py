"""The local API Gateway (the routes template.yaml declares, over HTTP) and both sides of its
authentication (SigV4, API keys)."""
