"""A bounded, seeded fuzz of the prediction API over HTTP: 10,000 signed requests to the local front
(one keep-alive connection), the real handler behind it, over every route template.yaml declares.

Type confusion, exhaustively: for each body shape (predict, explain, feedback, V2 infer in JSON and binary, MLflow's
dataframe_split, dataframe_records, instances and inputs, columnar and records) a valid body is sent once,
then once per field at every depth (the whole body included) and per JSON value of every type (null,
booleans, numbers past float64 and float32, NaN, strings empty, short and long, arrays and objects empty,
nested and deep) put in that field's place; each path parameter of the GET routes likewise.

Then, to 10,000, random cases: random JSON, huge and deeply nested values, integers past float64 and past
Python's 4,300-digit limit, NaN/Infinity literals, long strings and field names, many instances and
fields, odd content types, odd methods and paths, feedback with odd request ids, instances and labels,
odd X-Request-Id headers; Open Inference Protocol (V2) tensors, JSON and binary (odd datatypes, shapes,
lengths, sizes and header lengths) and MLflow scoring payloads.

The console's routes likewise (tests/integration/fuzz_console.py), with the console users' ID tokens.

No answer may be a 5xx, every error body must be JSON and smaller than 1 MB, every valid body must be
answered 200, and every route must have answered 200 at least once. The seed is fixed, so a failure
replays; the failing cases are listed with what was confused. (During a canary a request production
refuses is refused and counted for neither version: tests/unit/app/test_live_serving.py.)"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from sluice.adapters.prediction_api import Response, SignedClient, credentials_of
from sluice.tools.local.api.gateway import LocalApi, Route
from tests.integration.conftest import Stack
from tests.integration.fuzz_confusions import GET_ROUTES, confusions
from tests.integration.fuzz_console import console_case, console_confusions, send, with_tokens
from tests.integration.fuzz_random import (
    CONTENT_TYPES,
    MAX_BODY,
    MAX_ERROR_BODY,
    MODEL,
    ODD_METHODS,
    REQUESTS,
    SEED,
    Case,
    feedback_body,
    mlflow_body,
    predict_body,
    v2_infer,
    value,
)
from tests.integration.scenario import FIRST


def case(rng: random.Random, request_ids: list[str]) -> Case:
    if rng.random() < CONSOLE_SHARE:
        return console_case(rng)
    while True:
        sent = _case(rng, request_ids)
        if len(sent.body) <= MAX_BODY:
            return sent


def _case(rng: random.Random, request_ids: list[str]) -> Case:
    method = rng.choice(ODD_METHODS) if rng.random() < 0.08 else "POST"
    content_type = rng.choice(CONTENT_TYPES)
    roll = rng.random()
    headers: dict[str, str] = {}
    if roll < 0.45:
        path, body = f"/models/{MODEL}/predict", predict_body(rng).encode()
    elif roll < 0.55:
        path = rng.choice([f"/v2/models/{MODEL}/infer"] * 4 + [f"/v2/models/{MODEL}/versions/1/infer"])
        body, headers = v2_infer(rng)
        content_type = rng.choice([content_type, "application/octet-stream"])
    elif roll < 0.6:
        path, body = f"/models/{MODEL}/invocations", mlflow_body(rng).encode()
    elif roll < 0.8:
        path, body = f"/models/{MODEL}/feedback", feedback_body(rng, request_ids).encode()
    elif roll < 0.81:
        method, path, body = "GET", f"/models/{MODEL}", b""
    elif roll < 0.82:
        method, path, body = "GET", "/models", b""
    elif roll < 0.83:
        method, path, body = "GET", rng.choice(GET_ROUTES), b""
    else:
        name = quote("".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.choice([1, 10, 300]))), safe="")
        templates = [
            "/models/{}/predict",
            "/models/{}",
            "/{}",
            "/models/{}/feedback",
            "/models/{}/invocations",
        ]
        templates += ["/v2/models/{}/infer", "/v2/models/{}", f"/v2/models/{MODEL}/versions/{{}}/infer"]
        templates += [f"/v2/models/{MODEL}/versions/{{}}/ready", f"/v2/models/{MODEL}/versions/{{}}"]
        path = rng.choice(templates).format(name)
        body = value(rng).encode() if rng.random() < 0.5 else b""
    if rng.random() < 0.03:
        body = rng.randbytes(rng.randint(1, 200))
    return Case(method, path, body, content_type, headers)


def request_id_header(rng: random.Random) -> dict[str, str]:
    """Usually none; else a valid id, or one that is too long, empty, spaced or full of odd characters."""
    if rng.random() < 0.8:
        return {}
    odd = "".join(chr(rng.randint(33, 126)) for _ in range(rng.choice([1, 20, 129, 400])))
    return {"X-Request-Id": rng.choice([f"fuzz-{rng.randint(0, 10**9)}", odd, "", " x ", "-leading"])}


CONSOLE_SHARE = 0.05  # of the random cases: the console's routes, with the console users' ID tokens


@dataclass
class Api:
    client: SignedClient
    routes: list[Route]  # what the local front serves: template.yaml's Api events
    url: str
    tokens: dict[str, str]  # the console users' ID tokens, by group
    sign_in: bytes  # a console user's sign-in body

    def route(self, method: str, path: str) -> str | None:
        """The route a request reaches (as the front matches it), as "METHOD /resource"."""
        found = next(
            (r for r in self.routes if r.method in (method, "ANY") and r.pattern.match(urlsplit(path).path)),
            None,
        )
        return None if found is None else f"{found.method} {found.resource}"


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[Api]:
    stack.train(MODEL, FIRST)
    # Nothing is promoted during the fuzz: PredictFunction keeps the production alias it read for the
    # template's ALIAS_TTL (60 s) as on AWS, instead of reading it again for each of the 10,000 requests
    # (the shared stack's 0 s, for the tests that promote). Every request still reaches the handler.
    with stack.environment("PredictFunction", ALIAS_TTL_SECONDS="60"):
        served: LocalApi = stack.local.serve_api(0)
        signed = SignedClient(served.url, credentials_of(stack.local.credentials), timeout=120)
        tokens = {group: stack.local.console_id_token(group) for group in ("operators", "viewers")}
        viewer = next(u for u in stack.local.console_users() if u["group"] == "viewers")
        sign_in = json.dumps({"email": viewer["email"], "password": viewer["password"]}).encode()
        yield Api(signed, served.routes, served.url, tokens, sign_in)
        signed.close()
        served.stop()


def problem_of(sent: Case, status: int, body: bytes) -> str | None:
    """What is wrong with an answer, if anything."""
    if status >= 500:
        return f"status {status}: {body[:300]!r}"
    if sent.valid and status != 200:
        return f"a valid request answered {status}: {body[:300]!r}"
    if status < 400:
        return None
    if len(body) >= MAX_ERROR_BODY:
        return f"error body of {len(body):,} bytes"
    try:
        document: Any = json.loads(body)
    except ValueError:
        return f"error body is not JSON: {body[:300]!r}"
    if not isinstance(document, dict) or not ({"error", "message"} & set(document)):
        return f"error body without error/message: {body[:300]!r}"
    return None


@pytest.mark.slow
def test_ten_thousand_fuzzed_requests_get_no_5xx_and_small_json_errors(api: Api) -> None:
    rng = random.Random(SEED)
    # the type confusions, spread among the random cases (drawn when their turn comes: feedback reuses
    # the request ids of the predictions answered so far)
    planned: list[Case | None] = [*confusions(rng), *console_confusions(api.sign_in)]
    assert len(planned) < REQUESTS // 2, len(planned)
    planned += [None] * (REQUESTS - len(planned))
    rng.shuffle(planned)
    request_ids: list[str] = []
    failures: list[str] = []
    statuses: dict[int, int] = {}
    versions: set[int] = set()
    answered: set[str] = set()  # routes that answered 200
    started = time.perf_counter()
    for number_, chosen in enumerate(planned):
        sent = chosen or case(rng, request_ids)
        headers = {"Content-Type": sent.content_type} if sent.content_type else {}
        headers |= (request_id_header(rng) if chosen is None else {}) | sent.headers
        described = f"#{number_} [{sent.label}] {sent.method} {sent.path[:80]} ({sent.content_type!r}, {len(sent.body):,} B)"
        try:
            if sent.path.startswith("/console"):
                status, body = send(
                    api.url, sent.method, sent.path, sent.body, with_tokens(headers, api.tokens)
                )
                answer = Response(status, {}, body)
            else:
                answer = api.client.request(sent.method, sent.path, sent.body, headers)
        except OSError as exc:  # the front dropped the connection: no answer at all
            failures.append(f"{described}: {exc!r}")
            api.client.close()
            continue
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
        problem = problem_of(sent, answer.status, answer.body)
        if problem is not None:
            failures.append(f"{described}: {problem}")
        elif answer.status == 200:
            answered.add(api.route(sent.method, sent.path) or "")
            if sent.path.endswith("/predict"):
                request_ids.append(answer.json()["request_id"])
                versions.add(answer.json()["version"])
    elapsed = time.perf_counter() - started
    confused = sum(1 for chosen in planned if chosen is not None)
    print(
        f"\n{REQUESTS} fuzzed requests ({confused} type confusions) in {elapsed:.1f} s; "
        f"statuses {dict(sorted(statuses.items()))}"
    )
    assert not failures, f"{len(failures)} failing requests (seed {SEED}):\n" + "\n".join(failures[:50])
    # Every route the API serves answered 200 at least once (a new route needs its valid case above)
    unanswered = sorted({f"{r.method} {r.resource}" for r in api.routes} - answered)
    assert not unanswered, f"routes that never answered 200: {unanswered}"
    # The fuzz reached the handler's success and error paths, not only the front's refusals
    assert statuses.get(200, 0) > 300 and statuses.get(400, 0) > 1000, statuses
    # and the production version answered them
    assert versions == {1}
