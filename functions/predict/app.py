"""PredictFunction: the prediction API behind API Gateway (routes in sluice.entrypoints.api).

Cold start: the modules a prediction needs are imported here, the others on first use (the dashboard's
and the models listing's routes: LAZY_ROUTERS). In Lambda, init also builds the app's deps, creating
the boto3 clients a prediction uses (DynamoDB and S3; captured requests go to the capture extension, and
Firehose's client is created by the first label or capture fallback), so the first request creates none. Without SnapStart the time to the first response is the same either way
(measured); with SnapStart (on in the template) or provisioned concurrency it is spent before any
request arrives (docs/benchmarks.md, cold start). The garbage collector is off while the modules
import (they create hundreds of thousands of objects and none of them is garbage) and, in Lambda, until
the first response (creating the clients parses megabytes of JSON: collections there cost ~50-150 ms);
what exists then is frozen out of later collections, and the collector runs as usual from then on.

SnapStart (published versions): Lambda runs this module and `before_snapshot`, snapshots the process,
and resumes copies of it. The snapshot carries the imports (botocore's included) and the parsed service
models; `after_restore` re-creates in each copy what must not be shared: the boto3 session and clients
(credentials, connections) and the deps holding them, random state, and the Metrics buffer.
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
app = create_app(Settings.from_env)


def collect_as_usual() -> None:
    """Freeze what exists (modules, clients, the loaded model: they live as long as the process) and
    turn the collector back on."""
    gc.freeze()
    gc.enable()


def warm() -> None:
    """Build what a prediction would build on first use: the settings and the deps, with the DynamoDB
    and S3 clients of the registry and the artifact store. The production model is not loaded: it may
    change before the first request."""
    app.container.warm()


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):  # Lambda's init (or the local stack's)
    warm()
else:  # imported outside a function (tools, tests)
    collect_as_usual()


def the_app() -> APIGatewayRestResolver:
    """The API app (routes in sluice.entrypoints.api): its Container holds the function's deps (built at
    init in Lambda, else on first use) for the container."""
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
    parse the service models (creating the clients: init has, in Lambda), import the X-Ray SDK if the
    function traces. The production model is not loaded: it may change between the snapshot and a
    restore."""
    warm()
    adapters.client("firehose")  # feedback's (and capture's without the extension): its model parsed here
    tracer.warm()
    gc.collect()
    gc.freeze()  # the collector stays off until the first response of each restored copy


def after_restore() -> None:
    """Each restored copy: its own boto3 session and clients (fresh credentials and connections: the
    snapshot's are dropped with the deps holding them, and created again here from the parsed models it
    carries, so the first request creates none), its own random state (capture sampling), an empty
    Metrics buffer."""
    adapters.clear_clients()
    app.container.forget_deps()
    warm()
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
