"""The request path with AWS-like latency off and on: one-row predictions through the local HTTP API
(a SigV4-signed keep-alive client → the local API front → PredictFunction run in-process → the answer),
on an in-process stack whose AWS calls are delayed as AWS would answer them (`sluice.tools.local.latency`)
or not, in the same run; then, per AWS operation, how many calls a request makes and the time they add.

Phases, each with latency off and on, in interleaved rounds (the same stack, model and requests):
- the first request of a new container (PredictFunction recycled: deps built, alias read, model fetched
  and verified; Python modules stay imported, so this is not a cold start: bench.predict.cold is);
- warm requests at capture 0%, 10% (the template's default) and 100% (ALIAS_TTL 60 s, the template's:
  no registry read on these requests);
- warm requests once ALIAS_TTL has passed (ALIAS_TTL_SECONDS=0, capture 0%: each request re-reads the
  production alias, as one request per TTL does on AWS).

Every AWS call PredictFunction makes is counted (latency off counts them too: the same calls, no delay),
so the operations table lists every place where the request path calls AWS. Nothing asserts on time: the
tables print with the budget of issue 23 (capture off the response path) as PASS or MISS.

`python -m bench.predict.request_path [--seed N] [--requests N] [--rounds N]` from the repository root.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from bench.predict.common import (
    MODEL,
    SPEC_FILE,
    in_process_stack,
    quiet,
    request_instances,
    run_bench,
    table,
    training_csv,
    verdict,
)

FUNCTION = "PredictFunction"
CAPTURES = (0.0, 0.1, 1.0)
TEMPLATE_TTL = "60"
# (name, CAPTURE_FRACTION, ALIAS_TTL_SECONDS)
PHASES = (
    *((f"warm, capture {c:.0%}", c, TEMPLATE_TTL) for c in CAPTURES),
    ("warm, ALIAS_TTL passed (re-read per request), capture 0%", 0.0, "0"),
)
FIRST = "first request of a new container"
SHUTDOWN = ", at the container's shutdown (per request served)"
# Budget (issue 23, capture off the response path): under AWS-like latency, p95 of one-row predictions at
# capture 100% within 1.2× of capture 0%.
CAPTURE_BUDGET = 1.2
INTRO = (
    "\nRequest path: one-row POST /models/{model}/predict through the local HTTP API (SigV4, keep-alive),\n"
    "PredictFunction in-process; time from sending the request to reading the answer, ms. AWS latency\n"
    "on = each AWS call PredictFunction makes sleeps a seeded draw of that operation's latency on AWS\n"
    "(docs/guides/local-stack.md); off = moto answers in microseconds. Blocks interleave off/on and the\n"
    "phases, round after round; each block starts a new container (its first request is timed apart)."
)


@dataclass
class Block:
    """The samples (ms) of one (phase, latency) and the AWS calls its requests made."""

    samples: list[float] = field(default_factory=list)
    requests: int = 0
    calls: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    seconds: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))

    def add_calls(self, before: dict[Any, Any], after: dict[Any, Any]) -> None:
        for key, tally in after.items():
            earlier = before.get(key)
            calls = tally.calls - (earlier.calls if earlier else 0)
            if calls:
                self.calls[key] += calls
                self.seconds[key] += tally.seconds - (earlier.seconds if earlier else 0.0)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.samples, n=20)[18] if len(self.samples) > 1 else self.samples[0]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.samples)


def bench_request_path(seed: int, requests: int, rounds: int) -> None:
    from sluice.tools.local.latency import AwsLatency

    latency = AwsLatency(seed, enabled=False)
    with in_process_stack(aws_latency=latency) as stack:
        with quiet():
            train(stack)
        api = stack.serve_api(free_port())
        client = api_client(stack, api.url)
        bodies = [json.dumps({"instances": [row]}).encode() for row in request_instances(1000)]
        print(INTRO)
        print(f"AWS latency seed {seed}; {rounds} rounds of {requests} warm requests per phase and setting")
        blocks: dict[tuple[str, bool], Block] = defaultdict(Block)
        sent = 0
        for _ in range(rounds):
            for name, capture, ttl in PHASES:
                for on in (False, True):
                    latency.enabled = on
                    overrides = stack.env_overrides.setdefault(FUNCTION, {})
                    overrides.update(CAPTURE_FRACTION=str(capture), ALIAS_TTL_SECONDS=ttl)
                    stack.recycle(FUNCTION)
                    sent = timed(
                        client, bodies, sent, 1, blocks[(f"{FIRST}, capture {capture:.0%}", on)], latency
                    )
                    sent = timed(client, bodies, sent, requests, blocks[(name, on)], latency)
                    shut_down(stack, blocks[(f"{name}{SHUTDOWN}", on)], latency, requests + 1)
        latency.enabled = False
        client.close()
        print_latency_table(blocks)
        print_budget(blocks)
        print_operations(blocks, latency)


def free_port() -> int:
    from sluice.tools.local import free_port as port

    return port()


def train(stack: Any) -> None:
    """The credit-risk example trained and promoted on the stack (version 1 in production)."""
    s3 = stack.client("s3")
    raw = stack.outputs["RawBucketName"]
    s3.put_object(Bucket=raw, Key=f"{MODEL}/spec.yaml", Body=SPEC_FILE.read_bytes())
    stack.wait_for_executions()
    s3.put_object(Bucket=raw, Key=f"{MODEL}/data/bench.csv", Body=training_csv())
    executions = stack.wait_for_executions()
    if [e["status"] for e in executions] != ["SUCCEEDED"]:
        raise SystemExit(f"training on the in-process stack: {executions}")


def api_client(stack: Any, url: str) -> Any:
    from sluice.tools.local.api.signing import client_for

    return client_for(
        {"api_url": url, "auth": stack.api_auth, "credentials": stack.credentials, "api_key": stack.api_key}
    )


def timed(client: Any, bodies: list[bytes], sent: int, count: int, block: Block, latency: Any) -> int:
    """Send `count` one-row requests (cycling through `bodies`), each timed; the AWS calls they made go to
    `block`. Any answer but 200 stops the bench. Returns how many requests were sent so far."""
    path = f"/models/{MODEL}/predict"
    headers = {"Content-Type": "application/json"}
    before = latency.tallies()
    with quiet():
        for i in range(count):
            body = bodies[(sent + i) % len(bodies)]
            start = time.perf_counter_ns()
            response = client.request("POST", path, body, headers)
            block.samples.append((time.perf_counter_ns() - start) / 1e6)
            if response.status != 200:
                raise SystemExit(f"POST {path}: HTTP {response.status}: {response.body[:500]!r}")
    block.add_calls(before, latency.tallies())
    block.requests += count
    return sent + count


def shut_down(stack: Any, block: Block, latency: Any, served: int) -> None:
    """The container that served `served` requests is spun down (Lambda's SHUTDOWN: an extension sends
    what it holds); the AWS calls that makes, off the request path, go to `block`, per request served."""
    before = latency.tallies()
    with quiet():
        stack.recycle(FUNCTION)
    block.add_calls(before, latency.tallies())
    block.requests += served


def phases_in_order(blocks: dict[tuple[str, bool], Block], shutdowns: bool = False) -> list[str]:
    firsts = [f"{FIRST}, capture {c:.0%}" for c in CAPTURES]
    names = [name for name in (*firsts, *(p[0] for p in PHASES)) if (name, False) in blocks]
    if shutdowns:
        names += [f"{p[0]}{SHUTDOWN}" for p in PHASES]
    return names


def print_latency_table(blocks: dict[tuple[str, bool], Block]) -> None:
    rows = []
    for name in phases_in_order(blocks):
        off, on = blocks[(name, False)], blocks[(name, True)]
        for label, block in (("off", off), ("on", on)):
            rows.append(
                [
                    name,
                    label,
                    str(len(block.samples)),
                    f"{block.median:,.2f}",
                    f"{block.p95:,.2f}",
                    f"{block.mean:,.2f}",
                    "" if block is off else f"{on.median - off.median:+,.2f} ({on.median / off.median:.1f}×)",
                ]
            )
    print()
    table(["phase", "AWS latency", "requests", "median ms", "p95 ms", "mean ms", "on − off (median)"], rows)


def print_budget(blocks: dict[tuple[str, bool], Block]) -> None:
    zero, every = blocks[("warm, capture 0%", True)], blocks[("warm, capture 100%", True)]
    ratio = every.p95 / zero.p95
    print(
        f"\nbudget (issue 23, capture off the response path): with AWS latency on, p95 at capture 100% "
        f"≤ {CAPTURE_BUDGET}× p95 at capture 0%: {every.p95:,.2f} / {zero.p95:,.2f} ms = {ratio:.2f}× "
        f"{verdict(ratio <= CAPTURE_BUDGET)}"
    )


def print_operations(blocks: dict[tuple[str, bool], Block], latency: Any) -> None:
    from sluice.tools.local.faults import short_name
    from sluice.tools.local.latency import figure_for

    rows = []
    for name in phases_in_order(blocks, shutdowns=True):
        off, on = blocks[(name, False)], blocks[(name, True)]
        if not (on.calls or off.calls):
            rows.append([name, "—", "no AWS call", "0", "0", "0.00", "", ""])
            continue
        for principal, operation in sorted(set(on.calls) | set(off.calls)):
            calls = on.calls.get((principal, operation), 0)
            added = on.seconds.get((principal, operation), 0.0) * 1000
            figure = figure_for(operation, latency.model.figures)
            rows.append(
                [
                    name,
                    short_name(principal),
                    operation,
                    f"{off.calls.get((principal, operation), 0) / off.requests:.2f}",
                    f"{calls / on.requests:.2f}",
                    f"{added / on.requests:,.2f}",
                    f"{added / calls:,.1f}" if calls else "",
                    f"{figure.median_ms:g} / {figure.p99_ms:g}",
                ]
            )
    print(
        "\nAWS calls per request, made while the requests ran (the handler's; an extension's after a response)\n"
        "or when the container shut down (off the request path, per request it served): calls per request\n"
        "with AWS latency off and on (the same calls; at capture 10% the sample differs), the time they add\n"
        "per request with it on (mean over the phase's requests), the mean draw per call, and the\n"
        "operation's figure (median / p99):"
    )
    table(
        [
            "phase",
            "principal",
            "operation",
            "calls/req off",
            "calls/req on",
            "ms added/req",
            "ms/call",
            "figure ms",
        ],
        rows,
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.predict.request_path",
        description="One-row predictions through the local HTTP API, AWS-like latency off and on.",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the AWS-like delays (default 0)")
    parser.add_argument("--requests", type=int, default=100, help="warm requests per block (default 100)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every block (default 3)")
    args = parser.parse_args()
    return run_bench(
        "bench.predict.request_path", lambda: bench_request_path(args.seed, args.requests, args.rounds)
    )


if __name__ == "__main__":
    sys.exit(main())
