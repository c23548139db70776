"""The one place Powertools Logger, Tracer and Metrics are created; every handler imports them here."""

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "sluice"
NAMESPACE = "Sluice"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
