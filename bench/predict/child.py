"""The two baseline handlers of the warm bench, and one cold start in a fresh process.

`python bench/predict/child.py ARGS.json` (its "mode": sluice | sklearn) is one cold start: it times its
own imports, model load and first request and writes them to the file ARGS.json names. Only the standard
library is imported at module level, so the imports it times are the handler's own; it runs as a script
(never `-m`), so no package of the bench is imported either.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
HEAVY = ("sklearn", "scipy", "pandas")


def _response(body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def minimal_handler(model_bytes: bytes) -> Handler:
    """json.loads + session.run + json.dumps: no validation, no routing, no logging or metrics. Same ONNX
    bytes and the same session options as sluice.domain.scoring.onnx_model.OnnxModel (one intra- and inter-op thread)."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    numeric = [i.name for i in session.get_inputs() if i.type == "tensor(float)"]
    strings = [i.name for i in session.get_inputs() if i.type != "tensor(float)"]

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        instances = json.loads(event["body"])["instances"]
        feed = {n: np.array([[row.get(n)] for row in instances], dtype=np.float32) for n in numeric}
        for name in strings:
            feed[name] = np.array([[row.get(name) or ""] for row in instances], dtype=object)
        labels, probabilities = session.run(["label", "probabilities"], feed)
        return _response({"predictions": labels.ravel().tolist(), "probabilities": probabilities.tolist()})

    return handler


def sklearn_handler(pipeline: Any, features: list[tuple[str, bool]]) -> Handler:
    """json.loads + the pickled scikit-learn pipeline's predict_proba + json.dumps. `features` is the
    spec's (name, is_numeric) in column order; missing numbers are NaN and missing categories "", as in
    training (sluice.domain.training.pipeline.model_matrix)."""
    import numpy as np

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        instances = json.loads(event["body"])["instances"]
        matrix = np.empty((len(instances), len(features)), dtype=object)
        for j, (name, is_numeric) in enumerate(features):
            if is_numeric:
                matrix[:, j] = [math.nan if row.get(name) is None else float(row[name]) for row in instances]
            else:
                matrix[:, j] = [row.get(name) or "" for row in instances]
        probabilities = pipeline.predict_proba(matrix)
        labels = pipeline.classes_[probabilities.argmax(axis=1)]
        return _response({"predictions": labels.tolist(), "probabilities": probabilities.tolist()})

    return handler


class _Context:
    """The parts of the Lambda context object that Powertools reads."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.memory_limit_in_mb = 1024
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = "cold-start"
        self.function_version = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def _timed(spent: dict[str, float], key: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[key] = spent.get(key, 0.0) + time.perf_counter() - start

    return wrapper


def _instrument_clients(spent: dict[str, float], phase: list[str]) -> None:
    """Time botocore client creation, charged to the phase it happens in (`phase[0]`: the handler
    module's import, which is Lambda's init and creates the clients; or the 1st request). Called before
    the handler module is imported, with the collector off as the handler module turns it off: the
    handler's modules are the same, sluice.adapters's merely come first."""
    import gc

    gc.disable()
    import sluice.adapters

    create = sluice.adapters._client

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return create(*args, **kwargs)
        finally:
            key = f"{phase[0]}boto3 clients"
            spent[key] = spent.get(key, 0.0) + time.perf_counter() - start

    timed.cache_clear = create.cache_clear  # type: ignore[attr-defined]  # the SnapStart hooks clear it
    timed.cache_info = create.cache_info  # type: ignore[attr-defined]
    sluice.adapters._client = timed  # type: ignore[assignment]


def _instrument(spent: dict[str, float]) -> None:
    """Time the parts of the first request (wrappers cost well under a microsecond a call)."""
    from sluice.adapters.artifacts import ArtifactStore
    from sluice.adapters.registry.store import Registry
    from sluice.domain.scoring.onnx_model import OnnxModel

    for name in ("get_alias", "get_version"):
        setattr(Registry, name, _timed(spent, "registry reads", getattr(Registry, name)))
    ArtifactStore.get_verified = _timed(spent, "model fetch + sha256", ArtifactStore.get_verified)  # type: ignore[method-assign]
    OnnxModel.__init__ = _timed(spent, "ORT session + metadata", OnnxModel.__init__)  # type: ignore[method-assign]


def cold_sluice(args: dict[str, Any], t0: float) -> dict[str, Any]:
    """Import the Lambda handler module, then answer two requests (the first loads the model)."""
    import importlib.util

    sys.path[:0] = args.get("sys_path", [])
    spent: dict[str, float] = {}
    phase = ["init: "]
    _instrument_clients(spent, phase)
    spec = importlib.util.spec_from_file_location("app", args["handler_file"])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    imported = time.perf_counter()
    snapstart: dict[str, float] = {}
    if args.get("snapstart"):
        # SnapStart modelled: the before-snapshot hook runs in the init that is snapshotted; a restored
        # copy runs the after-restore hook, then its first request.
        phase[0] = "snapshot: "
        module.before_snapshot()
        restoring = time.perf_counter()
        phase[0] = "restore: "
        module.after_restore()
        snapstart = {"snapshot_s": restoring - imported, "restore_hook_s": time.perf_counter() - restoring}
    phase[0] = ""
    _instrument(spent)
    event = json.loads(Path(args["event"]).read_text(encoding="utf-8"))
    context = _Context(args["function_name"])
    start = time.perf_counter()
    first = module.lambda_handler(event, context)
    answered = time.perf_counter()
    cpu = time.process_time()
    event["requestContext"]["requestId"] += "-2"
    second = module.lambda_handler(event, context)
    done = time.perf_counter()
    return {
        **snapstart,
        "import_s": imported - t0,
        "first_s": answered - start,
        "cpu_s": cpu,  # the process's CPU time at its first response (the interpreter's start included)
        "second_s": done - answered,
        "parts": spent,
        "status": [first["statusCode"], second["statusCode"]],
        "body": json.loads(first["body"]),
        "heavy": [m for m in HEAVY if m in sys.modules],
    }


def cold_sklearn(args: dict[str, Any], t0: float) -> dict[str, Any]:
    """Import what unpickling the pipeline needs (and boto3 when the pickle comes from the stack), load
    and unpickle it, answer two requests."""
    import importlib
    import pickle

    modules = ["numpy", *args["sklearn_modules"]] + (["boto3"] if "s3" in args else [])
    for module in modules:
        importlib.import_module(module)
    imported = time.perf_counter()
    if "s3" in args:
        import boto3

        s3 = boto3.client("s3")  # AWS_ENDPOINT_URL: the local stack
        data = s3.get_object(Bucket=args["s3"]["bucket"], Key=args["s3"]["key"])["Body"].read()
    else:
        data = Path(args["pickle"]).read_bytes()
    pipeline = pickle.loads(data)
    handler = sklearn_handler(pipeline, [(str(n), bool(k)) for n, k in args["features"]])
    loaded = time.perf_counter()
    event = json.loads(Path(args["event"]).read_text(encoding="utf-8"))
    first = handler(event, None)
    answered = time.perf_counter()
    cpu = time.process_time()
    second = handler(event, None)
    done = time.perf_counter()
    return {
        "import_s": imported - t0,
        "load_s": loaded - imported,
        "first_s": answered - loaded,
        "cpu_s": cpu,
        "second_s": done - answered,
        "status": [first["statusCode"], second["statusCode"]],
        "body": json.loads(first["body"]),
    }


def main(argv: list[str]) -> int:
    started = time.time()
    t0 = time.perf_counter()
    args = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    result = cold_sluice(args, t0) if args["mode"] == "sluice" else cold_sklearn(args, t0)
    result["started_epoch"] = started
    result["ended_epoch"] = time.time()
    Path(args["out"]).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
