"""The console's routes in the fuzz (tests/integration/test_fuzz.py), sent with a real Cognito ID token
(an operator's, or a viewer's for what would start a run): each JSON body valid once, then with every
field in turn replaced by each type confusion, random JSON and bytes, odd path parameters, versions,
upload keys, methods and tokens. Nothing may answer a 5xx."""

from __future__ import annotations

import http.client
import json
import random
from collections.abc import Iterator, Mapping
from urllib.parse import quote, urlsplit

from tests.integration.fuzz_confusions import CONFUSIONS
from tests.integration.fuzz_random import MODEL, ODD_METHODS, Case, value

# placeholders the fuzz replaces with the users' ID tokens (and the operator's cut short by one character)
OPERATOR, VIEWER, TRUNCATED = "<operator>", "<viewer>", "<truncated>"
SAMPLE = "age,segment,default\n" + "".join(
    f"{20 + i},{'retail' if i % 2 else 'sme'},{i % 2}\n" for i in range(40)
)

BODIES: dict[str, dict[str, object]] = {
    "/console/api/columns": {"file_name": "loans.csv", "sample": SAMPLE},
    "/console/api/uploads": {"model": MODEL, "file_name": "more.csv", "size": 1000},
    f"/console/api/models/{MODEL}/versions/1/approve": {"reason": "fine"},
    f"/console/api/models/{MODEL}/versions/1/reject": {"reason": "no"},
    f"/console/api/models/{MODEL}/rollback": {"reason": "back"},
    # two-step sign-in: the access token is not one Cognito issued (a 401), and each field confused
    "/console/api/mfa": {"access_token": "not-an-access-token"},
    "/console/api/mfa/setup": {"access_token": "not-an-access-token"},
    "/console/api/mfa/verify": {"access_token": "not-an-access-token", "code": "123456"},
}
VALID = [
    ("GET", "/console", ""),
    ("GET", "/console/assets/console.js", ""),
    ("GET", "/console/assets/console.css", ""),
    ("GET", "/console/api/me", OPERATOR),
    ("GET", "/console/api/me", VIEWER),
    ("GET", "/console/api/models", VIEWER),
    ("GET", f"/console/api/models/{MODEL}", OPERATOR),
    ("GET", f"/console/api/uploads?key={MODEL}/data/never-sent.csv", VIEWER),
]
PARAMETER_PATHS = [
    "/console/api/models/{}",
    "/console/api/models/{}/rollback",
    f"/console/api/models/{MODEL}/versions/{{}}/approve",
    f"/console/api/models/{MODEL}/versions/{{}}/reject",
    "/console/api/models/{}/versions/1/approve",
    "/console/assets/{}",
    "/console/api/uploads?key={}",
    "/console/api/{}",
]


def _json(document: object) -> bytes:
    return json.dumps(document).encode()


def console_confusions(sign_in: bytes) -> Iterator[Case]:
    """The valid requests (`sign_in`: a user's email and password), then each body's fields confused,
    then each path parameter."""
    yield Case(
        "POST", "/console/api/sign-in", sign_in, "application/json", {}, "console sign-in valid", valid=True
    )
    code_step = {"email": json.loads(sign_in)["email"], "code": "123456", "session": "a-session-" * 4}
    for field in ("email", "password", "code", "session"):
        for text in CONFUSIONS:
            document = code_step if field in ("code", "session") else json.loads(sign_in)
            confused = (
                "{"
                + ", ".join(
                    f"{json.dumps(k)}: {text if k == field else json.dumps(v)}" for k, v in document.items()
                )
                + "}"
            )
            yield Case(
                "POST",
                "/console/api/sign-in",
                confused.encode(),
                "application/json",
                {},
                f"console sign-in {field} := {text[:30]}",
            )
    for method, path, token in VALID:
        yield Case(
            method, path, b"", "", {"Authorization": token} if token else {}, "console valid", valid=True
        )
    yield Case(
        "POST",
        "/console/api/columns",
        _json(BODIES["/console/api/columns"]),
        "application/json",
        {"Authorization": VIEWER},
        "console columns valid",
        valid=True,
    )
    yield Case(
        "POST",
        "/console/api/uploads",
        _json(BODIES["/console/api/uploads"]),
        "application/json",
        {"Authorization": OPERATOR},
        "console upload valid",
        valid=True,
    )
    for path, body in BODIES.items():
        fields: list[str | None] = [None, *body]
        for which in fields:
            for text in CONFUSIONS:
                confused = (
                    text
                    if which is None
                    else "{"
                    + ", ".join(
                        f"{json.dumps(k)}: {text if k == which else json.dumps(v)}" for k, v in body.items()
                    )
                    + "}"
                )
                yield Case(
                    "POST",
                    path,
                    confused.encode(),
                    "application/json",
                    {"Authorization": OPERATOR},
                    f"console {path} {which} := {text[:30]}",
                )
    for text in CONFUSIONS:
        parameter = quote(text, safe="")
        for template in PARAMETER_PATHS:
            yield Case(
                "GET" if "versions" not in template and "rollback" not in template else "POST",
                template.format(parameter),
                b"{}",
                "application/json",
                {"Authorization": OPERATOR},
                f"console {template} := {text[:30]}",
            )


def console_case(rng: random.Random) -> Case:
    """A random console request: a random body to a route, an odd method, path or token."""
    roll = rng.random()
    token = rng.choice([OPERATOR, OPERATOR, VIEWER])
    if roll < 0.5:
        path = rng.choice([*BODIES, "/console/api/sign-in"])
        body = (
            value(rng).encode()
            if rng.random() < 0.7
            else _json(
                dict(BODIES.get(path, {"email": "x@y.z"}))
                | {
                    rng.choice(
                        ["model", "size", "target", "sensitive", "reason", "sample", "extra"]
                    ): json.loads(json.dumps(rng.choice([None, 0, -1, 10**30, "", "x" * 3000, [], {}, True])))
                }
            )
        )
        return Case("POST", path, body, "application/json", {"Authorization": token}, "console random body")
    if roll < 0.7:
        name = quote("".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.choice([1, 10, 300]))), safe="")
        template = rng.choice(PARAMETER_PATHS)
        method = rng.choice(["GET", "POST"])
        return Case(method, template.format(name), b"", "", {"Authorization": token}, "console random path")
    if roll < 0.85:
        method = rng.choice(ODD_METHODS)
        path = rng.choice([p for _, p, _ in VALID] + list(BODIES))
        return Case(method, path, b"", "", {"Authorization": token}, "console odd method")
    odd_token = rng.choice(["", "Bearer x", "a.b.c", "x" * 5000, TRUNCATED])
    return Case("GET", "/console/api/me", b"", "", {"Authorization": odd_token}, "console odd token")


def with_tokens(headers: Mapping[str, str], tokens: Mapping[str, str]) -> dict[str, str]:
    """`headers` with the placeholders replaced by the ID tokens ({"operators": …, "viewers": …})."""
    real = {OPERATOR: tokens["operators"], VIEWER: tokens["viewers"], TRUNCATED: tokens["operators"][:-1]}
    return {k: real.get(v, v) for k, v in headers.items()}


def send(url: str, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
    """One unsigned request to the front (the console's routes use ID tokens, not SigV4)."""
    where = urlsplit(url)
    connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=120)
    try:
        connection.request(method, path, body=body or None, headers=dict(headers))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
