"""What the standard protocols cost per request against /predict: the same handler, model and rows sent as
/predict JSON, as Open Inference Protocol (KServe V2) tensors in JSON and in the binary tensor extension
(tritonclient's default: binary inputs, binary outputs), and in MLflow's dataframe_split and
dataframe_records. In-process, through functions/predict/app.py on API Gateway REST proxy events, like
bench.predict.warm (capture off, so only the translation differs); interleaved rounds.

`python -m bench.predict.protocols` from the repository root. Nothing here asserts on time."""

from __future__ import annotations

import json
import struct
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.predict.common import (
    HEADERS,
    MODEL,
    Case,
    in_process_stack,
    quiet,
    request_instances,
    run_bench,
    run_interleaved,
    spec_features,
    table,
)
from bench.predict.warm import trained_handlers

BATCHES = (1, 100)
ROUNDS = 9
CALLS_PER_ROUND = {1: 300, 100: 60}


def _event(path: str, resource: str, body: bytes, headers: dict[str, str] | None = None) -> dict[str, Any]:
    from sluice.tools.local.api.gateway import Route, proxy_event

    route = Route("POST", resource, "PredictFunction")
    return proxy_event(route, "POST", path, {**HEADERS, **(headers or {})}, body)


def _v2_json(rows: list[dict[str, Any]]) -> bytes:
    inputs = [
        {
            "name": name,
            "datatype": "FP32" if numeric else "BYTES",
            "shape": [len(rows), 1],
            "data": [r[name] for r in rows],  # null: missing
        }
        for name, numeric in spec_features()
    ]
    return json.dumps({"inputs": inputs, "parameters": {"binary_data_output": False}}).encode()


def _v2_binary(rows: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
    """As tritonclient sends it by default: binary inputs, binary outputs asked for."""
    inputs, chunks = [], []
    for name, numeric in spec_features():
        if numeric:
            raw = np.array([np.nan if r[name] is None else r[name] for r in rows], dtype="<f4").tobytes()
        else:
            raw = b"".join(struct.pack("<I", len(v)) + v for v in ((r[name] or "").encode() for r in rows))
        datatype = "FP32" if numeric else "BYTES"
        tensor = {"name": name, "shape": [len(rows), 1], "datatype": datatype}
        inputs.append({**tensor, "parameters": {"binary_data_size": len(raw)}})
        chunks.append(raw)
    header = json.dumps({"inputs": inputs, "parameters": {"binary_data_output": True}}).encode()
    return header + b"".join(chunks), {"Inference-Header-Content-Length": str(len(header))}


def protocol_events(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One event per protocol for the same rows."""
    columns = [name for name, _ in spec_features()]
    split = {"columns": columns, "data": [[r[c] for c in columns] for r in rows]}
    binary, headers = _v2_binary(rows)
    predict = f"/models/{MODEL}/predict"
    v2, mlflow = f"/v2/models/{MODEL}/infer", f"/models/{MODEL}/invocations"
    return {
        "/predict": _event(predict, "/models/{model}/predict", json.dumps({"instances": rows}).encode()),
        "V2 JSON tensors": _event(v2, "/v2/models/{model}/infer", _v2_json(rows)),
        "V2 binary tensors": _event(
            v2, "/v2/models/{model}/infer", binary, headers | {"Content-Type": "application/octet-stream"}
        ),
        "MLflow dataframe_split": _event(
            mlflow, "/models/{model}/invocations", json.dumps({"dataframe_split": split}).encode()
        ),
        "MLflow dataframe_records": _event(
            mlflow, "/models/{model}/invocations", json.dumps({"dataframe_records": rows}).encode()
        ),
        # the same /predict request timed again: how far apart two identical routes land in one run
        "/predict (control)": _event(
            predict, "/models/{model}/predict", json.dumps({"instances": rows}).encode()
        ),
    }


def _copies(event: dict[str, Any]) -> Callable[[int], dict[str, Any]]:
    """A fresh copy of `event` per call (the handler's resolver may annotate what it is given)."""
    return lambda _: dict(event)


def bench_protocols() -> None:
    with in_process_stack() as stack:
        with quiet():
            handlers = trained_handlers(stack)
        handler, context = handlers.modules[0.0].lambda_handler, handlers.context
        print(__doc__.split("\n\n")[0].replace("\n", " "))
        instances = request_instances(max(BATCHES))
        for rows in BATCHES:
            events = protocol_events(instances[:rows])
            with quiet():
                statuses = {
                    name: handler(dict(event), context)["statusCode"] for name, event in events.items()
                }
            if set(statuses.values()) != {200}:
                raise SystemExit(f"not every protocol answered 200: {statuses}")
            cases = [
                Case(name, handler, CALLS_PER_ROUND[rows], _copies(event)) for name, event in events.items()
            ]
            run_interleaved(cases, context, ROUNDS)
            base = cases[0]
            print(f"\n[{rows} row{'s' if rows > 1 else ''} per request, capture off]")
            table(
                ["route", "median µs", "p95 µs", "overhead vs /predict (median)"],
                [
                    [
                        c.name,
                        f"{c.median:,.0f}",
                        f"{c.p95:,.0f}",
                        "—"
                        if c is base
                        else f"{c.median - base.median:+,.0f} µs ({c.median / base.median:.2f}×)",
                    ]
                    for c in cases
                ],
            )


def main() -> int:
    return run_bench("bench.predict.protocols", bench_protocols)


if __name__ == "__main__":
    sys.exit(main())
