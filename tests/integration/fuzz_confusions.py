"""The fuzz's type confusion (tests/integration/test_fuzz.py): every field of every body shape, at every
depth, replaced by a JSON value of every type; each path parameter likewise."""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from tests.integration.conftest import INSTANCE
from tests.integration.fuzz_random import MODEL, Case

# --- Type confusion: every field of every body shape, by every JSON type ---------------------------------
# JSON texts (so they can hold what json.dumps would not write the same way): each JSON type, numbers past
# float64 and float32, NaN, strings empty, short, long and datatype-like, arrays and objects empty, nested
# and deep.
CONFUSIONS = [
    "null",
    "true",
    "0",
    "-1",
    "1.5",
    "1e308",
    "1e400",
    "NaN",
    "1" + "0" * 400,
    '""',
    '"FP32"',
    json.dumps("x" * 300),
    "[]",
    "{}",
    "[[]]",
    "[null]",
    '[{"a": []}]',
    '{"a": {"b": {"c": [{}]}}}',
    '{"a":' * 200 + "{}" + "}" * 200,
]
VALID = INSTANCE
CATEGORICAL = ("segment", "region")
Path = tuple[str | int, ...]
CONFUSED = "\u0000confused"  # where the confusion goes, until the document is written


def paths(document: Any, at: Path = ()) -> Iterator[Path]:
    """Every value's place in a document, the whole document first."""
    yield at
    if isinstance(document, dict):
        for name, inner in document.items():
            yield from paths(inner, (*at, name))
    elif isinstance(document, list):
        for index, inner in enumerate(document):
            yield from paths(inner, (*at, index))


def fields(document: Any) -> dict[str, list[Path]]:
    """Each field of a document (its places with every list index as *: `inputs[*].datatype`), with the
    places that hold it (one per tensor, row or column)."""
    found: dict[str, list[Path]] = {}
    for at in paths(document):
        found.setdefault(written(tuple("*" if isinstance(step, int) else step for step in at)), []).append(at)
    return found


def written(at: Path) -> str:
    steps = (f"[{step}]" if isinstance(step, int) or step == "*" else f".{step}" for step in at)
    return "".join(steps).lstrip(".") or "body"


def confused(document: Any, at: Path, text: str) -> str:
    """`document` as JSON, the value at `at` replaced by the JSON text `text`."""
    if not at:
        return text
    copy = json.loads(json.dumps(document))
    parent = copy
    for step in at[:-1]:
        parent = parent[step]
    parent[at[-1]] = CONFUSED
    return json.dumps(copy).replace(json.dumps(CONFUSED), text, 1)


def v2_document(binary: bool) -> tuple[dict[str, Any], bytes]:
    """A valid infer request for one instance: JSON tensors nested [1, 1] or flat [1] (and an id, the
    outputs asked for with their parameters), or binary tensors with their sizes."""
    inputs, chunks = [], []
    for i, (name, sent) in enumerate(VALID.items()):
        if name in CATEGORICAL:
            datatype, raw = "BYTES", len(str(sent)).to_bytes(4, "little") + str(sent).encode()
        else:
            datatype, raw = (
                ("INT64", struct.pack("<q", sent)) if name == "age" else ("FP32", struct.pack("<f", sent))
            )
        tensor: dict[str, Any] = {"name": name, "datatype": datatype}
        if binary:
            tensor |= {"shape": [1, 1], "parameters": {"binary_data_size": len(raw)}}
            chunks.append(raw)
        else:
            tensor |= {"shape": [1, 1], "data": [[sent]]} if i % 2 else {"shape": [1], "data": [sent]}
        inputs.append(tensor)
    if binary:
        return {"inputs": inputs, "parameters": {"binary_data_output": True}}, b"".join(chunks)
    outputs = [{"name": "label", "parameters": {"binary_data": False}}, {"name": "probabilities"}]
    return {
        "id": "fuzz-v2",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {"binary_data_output": False},
    }, b""


def mlflow_documents() -> dict[str, Any]:
    columns = list(VALID)
    return {
        "mlflow-dataframe_split": {
            "dataframe_split": {"columns": columns, "data": [list(VALID.values())], "index": [0]}
        },
        "mlflow-dataframe_records": {"dataframe_records": [VALID]},
        "mlflow-instances": {"instances": [VALID]},
        "mlflow-inputs-columnar": {"inputs": {name: [sent] for name, sent in VALID.items()}},
        "mlflow-inputs-records": {"inputs": [VALID], "params": {}},
    }


def body_confusions(rng: random.Random) -> Iterator[Case]:
    """Each body shape valid once, then each of its fields (the body itself included, at any depth)
    replaced by each of CONFUSIONS: where several tensors, rows or columns hold a field, each in turn."""
    json_type = "application/json"
    predict, feedback = f"/models/{MODEL}/predict", f"/models/{MODEL}/feedback"
    invocations = f"/models/{MODEL}/invocations"
    shapes: list[tuple[str, str, Any, bytes, str]] = [  # label, path, document, binary data, content type
        ("predict", predict, {"instances": [VALID]}, b"", json_type),
        ("explain", f"/models/{MODEL}/explain", {"instances": [VALID]}, b"", json_type),
        ("feedback", feedback, {"request_id": "fuzz-feedback", "instance": 0, "label": 1}, b"", json_type),
        ("v2-json", "", *v2_document(binary=False), json_type),
        ("v2-binary", "", *v2_document(binary=True), "application/octet-stream"),
        *((label, invocations, document, b"", json_type) for label, document in mlflow_documents().items()),
    ]
    for label, path, document, binary, content_type in shapes:
        for places in fields(document).values():
            first = rng.randrange(len(places))  # which tensor, row or column: each in turn, from any
            for turn, text in enumerate(
                [json.dumps(document), *CONFUSIONS] if places == [()] else CONFUSIONS
            ):
                at = places[(first + turn) % len(places)]
                body = confused(document, at, text).encode()
                headers = {"Inference-Header-Content-Length": str(len(body))} if binary else {}
                sent = path or rng.choice(
                    [f"/v2/models/{MODEL}/infer", f"/v2/models/{MODEL}/versions/1/infer"]
                )
                valid = not at and text == json.dumps(document)
                what = f"{label} valid" if valid else f"{label} {written(at)} := {text[:40]}"
                yield Case("POST", sent, body + binary, content_type, headers, what, valid)


GET_ROUTES = [
    "/models",
    f"/models/{MODEL}",
    "/v2",
    "/v2/health/live",
    "/v2/health/ready",
    f"/v2/models/{MODEL}",
    f"/v2/models/{MODEL}/ready",
    f"/v2/models/{MODEL}/versions/1",
    f"/v2/models/{MODEL}/versions/1/ready",
    "/dashboard",
    f"/dashboard/models/{MODEL}/1/card.html",
    "/openapi.json",
]
PARAMETER_ROUTES = [  # {} is the path parameter confused
    "/models/{}",
    "/v2/models/{}",
    "/v2/models/{}/ready",
    f"/v2/models/{MODEL}/versions/{{}}",
    f"/v2/models/{MODEL}/versions/{{}}/ready",
    "/dashboard/{}",
]


def path_confusions() -> Iterator[Case]:
    """Each GET route once as it is served, then each path parameter given each of CONFUSIONS (as text),
    and a valid infer request to a version given each of them."""
    for path in GET_ROUTES:
        yield Case("GET", path, b"", "", label="GET valid", valid=True)
    document, _ = v2_document(binary=False)
    for text in CONFUSIONS:
        parameter = quote(text, safe="")
        for template in PARAMETER_ROUTES:
            yield Case("GET", template.format(parameter), b"", "", label=f"GET {template} := {text[:40]}")
        infer = f"/v2/models/{MODEL}/versions/{parameter}/infer"
        body = json.dumps(document).encode()
        yield Case("POST", infer, body, "application/json", label=f"v2 version := {text[:40]}")


def confusions(rng: random.Random) -> list[Case]:
    return [*body_confusions(rng), *path_confusions()]
