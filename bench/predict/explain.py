"""Explain against predict (DESIGN.md's budget: one row of the credit-risk example explained within 20× of
predicting it), side by side: PredictFunction's real handler, one warm container, capture off, on API
Gateway REST proxy events for POST /models/credit-risk/predict and /explain with the same single rows
(cycling through 1,000), in interleaved rounds; the model and its background trained and stored by the
state machine on an in-process moto stack. Then where an explanation's time goes: the model rows it
runs (the coalitions left after collapsing the features where the instance equals the background row)
and the Shapley arithmetic.

`python -m bench.predict.explain` from the repository root. Nothing here asserts on time: it prints the
table, the ratio and PASS/MISS."""

from __future__ import annotations

import json
import statistics
from typing import Any

from bench.predict.common import (
    HEADERS,
    MODEL,
    Case,
    in_process_stack,
    median_us,
    quiet,
    request_instances,
    run_bench,
    run_interleaved,
    table,
    verdict,
)
from bench.predict.warm import check_response, trained_handlers

BUDGET = 20.0
ROUNDS = 5
CALLS_PER_ROUND = 200


def event(route: str, body: bytes) -> dict[str, Any]:
    """A real API Gateway REST proxy event for POST /models/credit-risk/<route>."""
    from sluice.tools.local.api.gateway import Route, proxy_event

    return proxy_event(
        Route("POST", f"/models/{{model}}/{route}", "PredictFunction"),
        "POST",
        f"/models/{MODEL}/{route}",
        dict(HEADERS),
        body,
    )


def bench_explain() -> None:
    with in_process_stack() as stack:
        with quiet():
            handlers = trained_handlers(stack)
        handler = handlers.modules[0.0].lambda_handler
        instances = request_instances(1000)
        singles = [json.dumps({"instances": [row]}).encode() for row in instances]
        with quiet():
            probe = check_response("explain", handler(event("explain", singles[0]), handlers.context), 1)
        print(
            "\nOne row per request, PredictFunction's handler (capture off), median/p95 µs over "
            f"{ROUNDS} interleaved rounds of {CALLS_PER_ROUND} calls each:"
        )
        cases = [
            Case("POST /predict", handler, CALLS_PER_ROUND, lambda i: event("predict", singles[i % 1000])),
            Case("POST /explain", handler, CALLS_PER_ROUND, lambda i: event("explain", singles[i % 1000])),
        ]
        run_interleaved(cases, handlers.context, ROUNDS)
        predict, explain = cases
        table(
            ["route", "calls", "median µs", "p95 µs", "× predict"],
            [
                [
                    c.name,
                    str(len(c.samples)),
                    f"{c.median:,.0f}",
                    f"{c.p95:,.0f}",
                    f"{c.median / predict.median:.1f}×",
                ]
                for c in cases
            ],
        )
        ratio = explain.median / predict.median
        print(f"budget: explain ≤ {BUDGET:.0f}× predict: {ratio:.1f}× {verdict(ratio <= BUDGET)}")
        print(
            f"method: {probe['explanations'][0]['method']}; first row: {probe['explanations'][0]['sentences']}"
        )
        where_it_goes(handlers, instances)


def where_it_goes(handlers: Any, instances: list[dict[str, Any]]) -> None:
    """The domain's cost alone: model rows per explanation, and one explanation against one ONNX run."""
    from bench.predict.common import SPEC_FILE, TRAIN_ROWS, TRAIN_SEED
    from sluice.domain.explain.background import BACKGROUND_ROWS, background_sample, read_background
    from sluice.domain.explain.shapley import explain_instance
    from sluice.domain.scoring.onnx_model import feed_from_instances
    from sluice.domain.spec.model_spec import load_spec
    from sluice.tools.example_data import credit_risk

    model = handlers.served.onnx
    spec = load_spec(SPEC_FILE)
    # the same rows the state machine chose (its split's training rows differ from the whole table, so
    # this is the background of the whole table: the same size, nearly the same rows)
    background = read_background(
        background_sample(spec, credit_risk(TRAIN_ROWS, seed=TRAIN_SEED)), model.inputs
    )
    feeds = [feed_from_instances(model.features, [row])[0] for row in instances[:200]]
    rows = [explain_instance(model, background, feed).model_rows for feed in feeds]
    explain_us = median_us(lambda: [explain_instance(model, background, f) for f in feeds[:20]], 10) / 20
    run_us = median_us(lambda: model.session.run(None, feeds[0]), 200)
    d = len(model.inputs)
    print(
        f"\nwhere it goes: {BACKGROUND_ROWS} background rows × 2^{d} = {BACKGROUND_ROWS * 2**d:,} model rows at "
        f"most; {statistics.mean(rows):,.0f} on average after collapsing equal features (min {min(rows):,}, "
        f"max {max(rows):,}); one explanation {explain_us:,.0f} µs against one single-row ONNX run "
        f"{run_us:,.0f} µs"
    )


if __name__ == "__main__":
    raise SystemExit(run_bench("bench.predict.explain", bench_explain))
