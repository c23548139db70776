"""The fuzz's random cases (tests/integration/test_fuzz.py): random JSON, odd values, bodies of every
route's shape, odd content types, methods and paths."""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MODEL = "it-fuzz"
SEED = 20261201
REQUESTS = 10_000
MAX_ERROR_BODY = 1024 * 1024
FEATURES = ["income", "age", "debt_ratio", "credit_lines", "months_employed", "segment", "region"]
CATEGORIES = ["retail", "sme", "corporate", "north", "south", "east", "west", ""]
CONTENT_TYPES = [
    *["application/json"] * 12,
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    "",
]
ODD_METHODS = ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "FOO", "PROPFIND"]
MAX_BODY = 3 * 1024 * 1024  # the front refuses more than 10 MB itself, as API Gateway does


@dataclass
class Case:
    method: str
    path: str
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)
    label: str = "random"  # what the case is: "random", or the shape and the field confused
    valid: bool = False  # a valid body, which must be answered 200


def number(rng: random.Random) -> str:
    """A JSON number, often one Python or float32 cannot hold."""
    return rng.choice(
        [
            lambda: str(rng.randint(-1000, 100_000)),
            lambda: repr(rng.uniform(-1e6, 1e6)),
            lambda: "1" + "0" * rng.randint(300, 400),  # beyond float64
            lambda: "-" + "9" * rng.randint(4301, 6000),  # beyond the int-string limit
            lambda: rng.choice(["1e309", "-1e400", "1e39", "3.5e38", "-0.0", "1E-400"]),
            lambda: rng.choice(["NaN", "Infinity", "-Infinity"]),  # json.loads accepts these
        ]
    )()


def text(rng: random.Random) -> str:
    return json.dumps(
        rng.choice(
            [
                lambda: rng.choice(CATEGORIES),
                lambda: "x" * rng.choice([1, 255, 256, 257, 5000]),
                lambda: "".join(chr(rng.randint(0, 0x2FFF)) for _ in range(rng.randint(0, 20))),
                lambda: "\n\u0000../\\'\"<>",
            ]
        )()
    )


def deep(rng: random.Random) -> str:
    levels = rng.choice([10, 500, 999, 1000, 1001, 5000])
    opening, closing = rng.choice([("[", "]"), ('{"a":', "}")])
    return opening * levels + "1" + closing * levels


def value(rng: random.Random, depth: int = 0) -> str:
    """A random JSON value as text (so it can hold what json.dumps refuses to write)."""
    kinds: list[Callable[[], str]] = [
        lambda: "null",
        lambda: rng.choice(["true", "false"]),
        lambda: number(rng),
        lambda: number(rng),
        lambda: text(rng),
        lambda: text(rng),
    ]
    if depth < 2:
        kinds.append(lambda: deep(rng))
    if depth < 3:
        kinds += [
            lambda: "[" + ",".join(value(rng, depth + 1) for _ in range(rng.randint(0, 4))) + "]",
            lambda: obj(rng, {key(rng): value(rng, depth + 1) for _ in range(rng.randint(0, 4))}),
        ]
    return rng.choice(kinds)()


def key(rng: random.Random) -> str:
    return rng.choice(
        [
            *FEATURES,
            "other",
            "instances",
            "x" * rng.choice([1, 81, 5000]),
            "".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(0, 8))),
        ]
    )


def obj(rng: random.Random, fields: dict[str, str]) -> str:
    return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in fields.items()) + "}"


def instance(rng: random.Random, extras: bool = True) -> str:
    """An instance close to a valid one: each feature kept, dropped, or given a random value, plus
    sometimes unknown fields."""
    fields: dict[str, str] = {
        "income": "52000.0",
        "age": "41",
        "debt_ratio": "0.35",
        "credit_lines": "4",
        "months_employed": "36",
        "segment": '"retail"',
        "region": '"north"',
    }
    for name in FEATURES:
        roll = rng.random()
        if roll < 0.15:
            fields[name] = value(rng)
        elif roll < 0.2:
            del fields[name]
    for _ in range(rng.choice([0, 0, 0, 1, 3, 100]) if extras else 0):
        fields[key(rng)] = value(rng, 3)
    return obj(rng, fields)


def predict_body(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.001:  # 1,000 instances of 100 unknown fields: the answer must stay small
        wide = obj(rng, {f"unknown_{j}": '"v"' for j in range(100)})
        return '{"instances": [' + ",".join([wide] * 1000) + "]}"
    if roll < 0.004:
        count = rng.choice([999, 1000, 1001, 5000])
        return '{"instances": [' + ",".join([instance(rng, extras=False)] * count) + "]}"
    if roll < 0.006:  # one very long string or very deep value
        huge = rng.choice(['"' + "x" * 300_000 + '"', "[" * 50_000 + "]" * 50_000])
        return '{"instances": [' + obj(rng, {rng.choice(FEATURES): huge}) + "]}"
    if roll < 0.75:
        count = rng.choice([1, 1, 1, 2, 3, 10, 50])
        return '{"instances": [' + ",".join(instance(rng, extras=count <= 3) for _ in range(count)) + "]}"
    return value(rng)  # any JSON at all


def feedback_body(rng: random.Random, request_ids: list[str]) -> str:
    fields = {
        "request_id": json.dumps(rng.choice(request_ids))
        if request_ids and rng.random() < 0.6
        else text(rng),
        "instance": rng.choice(["0", "1", "2", "-1", "1000", number(rng)]),
        "label": rng.choice(["0", "1", '"1"', '"yes"', "true", "2", number(rng), text(rng), value(rng)]),
    }
    for name in list(fields):
        if rng.random() < 0.1:
            del fields[name]
    return obj(rng, fields) if rng.random() < 0.95 else value(rng)


RAW = "\u0000raw"  # stands for a random JSON value, which json.dumps could not always write


def with_raw_values(rng: random.Random, document: str) -> str:
    """`document` with each RAW replaced by a random JSON value's text."""
    parts = document.split(json.dumps(RAW))
    return "".join(part + (value(rng, 2) if i < len(parts) - 1 else "") for i, part in enumerate(parts))


V2_DATATYPES = ["FP32", "FP32", "FP64", "INT64", "UINT8", "BYTES", "BOOL", "FP8", ""]


def tensor(rng: random.Random, name: str, rows: int) -> tuple[dict[str, Any], bytes]:
    """A V2 input tensor close to a valid one (JSON data, or binary data returned beside it)."""
    numeric = name not in ("segment", "region")
    datatype = ("FP32" if numeric else "BYTES") if rng.random() < 0.8 else rng.choice(V2_DATATYPES)
    shape: Any = (
        [rows, 1] if rng.random() < 0.85 else rng.choice([[rows], [rows, 2], [], [-1], [10**12], "x"])
    )
    values = [
        rng.uniform(0, 100) if numeric else rng.choice(CATEGORIES)
        for _ in range(rows if rng.random() < 0.9 else rows + 1)
    ]
    if rng.random() < 0.5:  # binary tensor extension
        if datatype == "BYTES" or not numeric:
            raw = b"".join(len(v).to_bytes(4, "little") + v for v in (str(x).encode() for x in values))
        else:
            raw = struct.pack(f"<{len(values)}f", *values)
        if rng.random() < 0.1:
            raw = raw[: rng.randint(0, len(raw))] if rng.random() < 0.5 else raw + rng.randbytes(3)
        size: Any = len(raw) if rng.random() < 0.9 else rng.choice([-1, 0, 10**9, "8", None])
        return {
            "name": name,
            "datatype": datatype,
            "shape": shape,
            "parameters": {"binary_data_size": size},
        }, raw
    data: Any = [[v] for v in values] if rng.random() < 0.5 else values
    if rng.random() < 0.1:
        data = RAW  # any JSON value (written in by with_raw_values)
    return {"name": name, "datatype": datatype, "shape": shape, "data": data}, b""


def v2_infer(rng: random.Random) -> tuple[bytes, dict[str, str]]:
    """An infer request: tensors kept, dropped, doubled or renamed; sometimes any JSON at all."""
    if rng.random() < 0.1:
        return value(rng).encode(), {}
    rows = rng.choice([1, 1, 2, 3, 50]) if rng.random() < 0.98 else 1001
    inputs, chunks = [], []
    for name in FEATURES + (["colour"] if rng.random() < 0.05 else []):
        if rng.random() < 0.05:
            continue
        sent, raw = tensor(rng, name, rows if rng.random() < 0.95 else rows + 1)
        inputs.append(sent)
        chunks.append(raw)
    document: dict[str, Any] = {"inputs": inputs}
    if rng.random() < 0.2:
        document["id"] = RAW
    if rng.random() < 0.2:
        document["outputs"] = [{"name": rng.choice(["label", "probabilities", "variable", "x"])}]
    if rng.random() < 0.2:
        document["parameters"] = {"binary_data_output": rng.choice([True, False, "yes"])}
    header = with_raw_values(rng, json.dumps(document)).encode()
    binary = b"".join(chunks)
    if not binary and rng.random() < 0.9:
        return header, {}
    length = str(len(header)) if rng.random() < 0.9 else rng.choice(["-1", "x", str(10**9), "", "0"])
    return header + binary, {"Inference-Header-Content-Length": length}


def row(rng: random.Random) -> dict[str, Any]:
    """An instance close to a valid one, as Python (what json cannot read stands for any value: RAW)."""
    try:
        parsed: dict[str, Any] = json.loads(instance(rng, extras=False), parse_int=float)
    except (RecursionError, ValueError):
        return {**dict.fromkeys(FEATURES, 1.0), "segment": RAW}
    return parsed


def mlflow_body(rng: random.Random) -> str:
    """A scoring request in one of MLflow's formats, close to valid; sometimes two formats or none."""
    rows = [row(rng) for _ in range(rng.choice([1, 2, 10]))]
    columns = FEATURES if rng.random() < 0.9 else [*FEATURES, "other"]
    split = {"columns": columns, "data": [[r.get(c) for c in columns] for r in rows]}
    formats = {
        "dataframe_split": split,
        "dataframe_records": rows,
        "instances": rows,
        "inputs": {c: [r.get(c) for r in rows] for c in FEATURES},
    }
    chosen = rng.sample(list(formats), rng.choice([1, 1, 1, 1, 2]))
    body = {name: formats[name] for name in chosen}
    if rng.random() < 0.1:
        body[rng.choice([*formats, "params", "rows"])] = RAW
    return with_raw_values(rng, json.dumps(body)) if rng.random() < 0.95 else value(rng)
