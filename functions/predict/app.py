"""PredictFunction: the prediction API behind API Gateway (routes in sluice.entrypoints.api).

Cold start: the garbage collector is off while the modules import (they create hundreds of thousands of
objects and none of them is garbage) and, in Lambda, until the first response (creating the boto3
clients parses megabytes of JSON: collections there cost ~50-150 ms); what exists then is frozen out of
later collections, and the collector runs as usual from then on.

SnapStart (published versions): Lambda runs this module and `before_snapshot`, snapshots the process,
and resumes copies of it. `after_restore` re-creates in each copy what must not be shared: boto3
sessions and clients (credentials, connections), random state, and the Metrics buffer.
"""
# ruff: noqa: E402 - the imports run with the collector off

import gc
import os

gc.disable()

import random
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice import adapters
from sluice.entrypoints.api import create_app
from sluice.entrypoints.handler import lambda_handler_of
from sluice.observability import metrics, tracer
from sluice.settings import PredictSettings

Settings = PredictSettings
app = create_app(Settings)


def collect_as_usual() -> None:
    """Freeze what exists (modules, clients, the loaded model: they live as long as the process) and
    turn the collector back on."""
    gc.freeze()
    gc.enable()


if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):  # imported outside a function (tools, tests)
    collect_as_usual()


def the_app() -> APIGatewayRestResolver:
    """The API app (routes in sluice.entrypoints.api): its Container builds the function's deps on first
    use and keeps them for the container."""
    return app


@lambda_handler_of(the_app, correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, api: APIGatewayRestResolver
) -> dict[str, Any]:
    try:
        return api.resolve(event, context)
    finally:
        if not gc.isenabled():  # the first invocation of this environment
            collect_as_usual()


def before_snapshot() -> None:
    """Do now what every restored copy would otherwise do on its first request: import botocore and
    parse the service models (creating the clients), import the X-Ray SDK if the function traces.
    The production model is not loaded: it may change between the snapshot and a restore."""
    adapters.client("dynamodb")
    adapters.client("s3")
    adapters.client("firehose")  # capture and feedback
    tracer.warm()
    gc.collect()
    gc.freeze()  # the collector stays off until the first response of each restored copy


def after_restore() -> None:
    """Each restored copy: its own boto3 session and clients (fresh credentials and connections), its
    own random state (capture sampling), an empty Metrics buffer."""
    adapters.clear_clients()
    random.seed()
    metrics.clear_metrics()


def register_snapstart_hooks() -> bool:
    """Register the hooks with the runtime's `snapshot_restore_py` (only the Lambda runtime has it)."""
    try:
        import snapshot_restore_py
    except ImportError:
        return False
    snapshot_restore_py.register_before_snapshot(before_snapshot)
    snapshot_restore_py.register_after_restore(after_restore)
    return True


register_snapstart_hooks()
