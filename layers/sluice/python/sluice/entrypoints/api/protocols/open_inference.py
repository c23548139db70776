"""The Open Inference Protocol (KServe V2) in Sluice's terms: input tensors (JSON or the binary tensor
extension) become the instances /predict validates, and a prediction answer becomes output tensors named
as the ONNX outputs. Pure: the API routes call it with the request's bytes and the served model.

Binary tensor extension: the body is a JSON header of `Inference-Header-Content-Length` bytes followed by
each input's raw data in the order of `inputs` (`parameters.binary_data_size` bytes each); numbers are
little-endian, BYTES elements a 4-byte little-endian length then the bytes."""

from __future__ import annotations

import json
import math
import re
import struct
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sluice.domain.scoring.onnx_model import (
    LABEL_OUTPUT,
    PROBABILITIES_OUTPUT,
    VALUE_OUTPUT,
    InstanceProblems,
    OnnxModel,
    echo,
)
from sluice.domain.spec.model_spec import CategoricalFeature, NumericFeature
from sluice.errors import InvalidRequest

BYTES = "BYTES"
# V2 numeric datatypes a numeric feature accepts (converted to float32 by the model's feed)
NUMERIC_DTYPES = {
    "FP32": "<f4",
    "FP64": "<f8",
    "FP16": "<f2",
    "INT8": "i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "UINT8": "u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
}
_ONNX_DTYPES = {
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(int64)": "INT64",
    "tensor(int32)": "INT32",
    "tensor(string)": BYTES,
    "tensor(bool)": "BOOL",
}
HEADER_LENGTH = "Inference-Header-Content-Length"
BINARY_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class InferRequest:
    """An infer request in Sluice's terms: the instances to score, the client's id (if any) and which
    outputs to answer, and which of them in binary."""

    instances: list[dict[str, Any]]
    id: str | None = None
    outputs: list[str] | None = None  # None: every output of the model
    binary: set[str] = field(default_factory=set)


def model_metadata(name: str, versions: list[int], onnx: OnnxModel) -> dict[str, Any]:
    """The model metadata answer: one input per feature named as the feature (FP32 numeric, BYTES
    categorical, shape [-1, 1] as the ONNX contract defines), the ONNX outputs with their datatypes."""
    return {
        "name": name,
        "versions": [str(v) for v in versions],
        "platform": "onnx",
        "inputs": [
            {"name": f.name, "datatype": "FP32" if f.type == "numeric" else BYTES, "shape": [-1, 1]}
            for f in onnx.features
        ],
        "outputs": [
            {
                "name": o.name,
                "datatype": _ONNX_DTYPES.get(o.type, BYTES),
                "shape": [d if isinstance(d, int) else -1 for d in o.shape or []],
            }
            for o in onnx.session.get_outputs()
        ],
    }


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON header and the binary data of a request (all JSON without the header). A 400 names the
    header when it is not a length within the body."""
    if header_length is None:
        return body, b""
    length = header_length.strip()
    if not re.fullmatch("[0-9]{1,12}", length) or int(length) > len(body):
        raise InvalidRequest(
            f"the {HEADER_LENGTH} header is not a length within the body",
            [{"instance": None, "field": HEADER_LENGTH, "message": f"got {echo(header_length)}"}],
        )
    return body[: int(length)], body[int(length) :]


def _shape(value: Any) -> int | str:
    """The batch size a V2 shape gives, or why the shape is not [n] or [n, 1]."""
    if not isinstance(value, list) or not all(type(d) is int and d >= 0 for d in value):
        return "shape must be a list of non-negative integers"
    if len(value) == 1 or (len(value) == 2 and value[1] == 1):
        return int(value[0])
    return f"shape {echo(value)} must be [n] or [n, 1]: one value per instance"


def _flat(data: Any) -> list[Any] | None:
    """`data` flat (V2 allows nesting as the shape); None when nested deeper than [n, 1]."""
    if not isinstance(data, list):
        return None
    if not any(type(item) is list for item in data):
        return data  # flat already (the common case: read, never changed)
    flat: list[Any] = []
    for item in data:
        if isinstance(item, list):
            if any(isinstance(inner, list) for inner in item):
                return None
            flat.extend(item)
        else:
            flat.append(item)
    return flat


def _bytes_elements(raw: bytes) -> list[bytes] | None:
    """BYTES tensor data (4-byte little-endian length, then the bytes, per element); None if malformed."""
    elements, offset, end, unpack = [], 0, len(raw), struct.Struct("<I").unpack_from
    while offset < end:
        if offset + 4 > end:
            return None
        (size,) = unpack(raw, offset)
        offset += 4
        if offset + size > end:
            return None
        elements.append(raw[offset : offset + size])
        offset += size
    return elements


def _binary_column(datatype: str, raw: bytes, n: int) -> list[Any] | str:
    if datatype == BYTES:
        elements = _bytes_elements(raw)
        if elements is None:
            return "binary BYTES data is not a sequence of 4-byte lengths and values"
        if len(elements) != n:
            return f"has {len(elements)} binary elements for shape [{n}]"
        try:
            return [e.decode("utf-8") for e in elements]
        except UnicodeDecodeError:
            return "binary BYTES elements must be UTF-8 text"
    dtype = np.dtype(NUMERIC_DTYPES[datatype])
    if len(raw) != n * dtype.itemsize:
        return f"has {len(raw)} bytes of binary data; shape [{n}] of {datatype} needs {n * dtype.itemsize}"
    array = np.frombuffer(raw, dtype=dtype)
    values: list[Any] = array.tolist()
    if array.dtype.kind == "f":  # NaN is missing in the ONNX contract, as null is in JSON
        for i in np.flatnonzero(np.isnan(array)).tolist():
            values[i] = None
    return values


def _json_type(value: Any) -> str:
    """The JSON type of a parsed value, as a message names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _datatype_problem(feature: NumericFeature | CategoricalFeature, datatype: Any) -> str | None:
    """Why `datatype` does not suit the feature, if it does not. It may be any JSON value: one that is
    not a string is named by its JSON type (a list or an object is neither looked up nor echoed)."""
    if not isinstance(datatype, str):
        takes = "FP32 (or another numeric datatype)" if feature.type == "numeric" else BYTES
        wrong = "is required" if datatype is None else f"must be a string, not {_json_type(datatype)}"
        return f"datatype {wrong}: a {feature.type} feature takes {takes}"
    if feature.type == "numeric" and datatype not in NUMERIC_DTYPES:
        return f"datatype {echo(datatype)}: a numeric feature takes FP32 (or another numeric datatype)"
    if feature.type == "categorical" and datatype != BYTES:
        return f"datatype {echo(datatype)}: a categorical feature takes BYTES"
    return None


class _Tensors:
    """Reads the `inputs` of a request into columns, noting every problem (the first ones named)."""

    def __init__(
        self, features: list[NumericFeature | CategoricalFeature], binary: bytes, max_instances: int
    ) -> None:
        self.features = {f.name: f for f in features}
        self.max_instances = max_instances
        self.largest = 0  # the largest batch a shape declares: past max_instances, no data is read
        self.binary = binary
        self.offset = 0
        self.columns: dict[str, list[Any]] = {}
        self.sizes: dict[str, int] = {}
        self.problems = InstanceProblems(details=[])

    def add(self, index: int, tensor: Any) -> None:
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            self.problems.add(None, f"inputs[{index}]", "must be an object with a string `name`")
            return
        name, datatype = tensor["name"], tensor.get("datatype")
        feature = self.features.get(name)
        if feature is None:
            self.problems.add(None, name, f"is not an input of this model ({', '.join(self.features)})")
            return
        if name in self.columns or name in self.sizes:
            self.problems.add(None, name, "is sent twice")
            return
        problem = _datatype_problem(feature, datatype)
        n = _shape(tensor.get("shape"))
        if isinstance(n, str):
            problem = problem or n
        parameters = tensor.get("parameters")
        size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
        raw = b""
        if size is not None:  # consumed even when the tensor has another problem: later inputs follow it
            if type(size) is not int or size < 0 or self.offset + size > len(self.binary):
                problem = problem or "parameters.binary_data_size is beyond the binary data sent"
            else:
                raw = self.binary[self.offset : self.offset + size]
                self.offset += size
        if problem is not None or isinstance(n, str):
            self.problems.add(None, name, problem or "invalid")
            return
        self.largest = max(self.largest, n)
        if n > self.max_instances:
            return
        column = _binary_column(str(datatype), raw, n) if size is not None else self._json_column(tensor, n)
        if isinstance(column, str):
            self.problems.add(None, name, column)
            return
        # missing in the ONNX contract, as null is in JSON: NaN (numeric), "" (categorical)
        if feature.type == "numeric":
            if size is None and any(v != v for v in column):  # only NaN differs from itself
                column = [None if isinstance(v, float) and math.isnan(v) else v for v in column]
        elif "" in column:
            column = [None if v == "" else v for v in column]
        self.sizes[name] = n
        self.columns[name] = column

    @staticmethod
    def _json_column(tensor: dict[str, Any], n: int) -> list[Any] | str:
        if "data" not in tensor:
            return "needs `data` or parameters.binary_data_size"
        flat = _flat(tensor["data"])
        if flat is None:
            return "data must be a list (flat, or nested as the shape)"
        if len(flat) != n:
            return f"has {len(flat)} values for shape [{n}]"
        return flat

    def finish(self) -> None:
        """Note what the inputs left wrong together: missing features, batch sizes, unread bytes."""
        for name in self.features:
            if name not in self.sizes and not any(p.field == name for p in self.problems.details):
                self.problems.add(None, name, "is required: send one input tensor per feature")
        if len(set(self.sizes.values())) > 1:  # name the inputs whose batch differs from most inputs'
            n = Counter(self.sizes.values()).most_common(1)[0][0]
            first = next(name for name, size in self.sizes.items() if size == n)
            for name, size in self.sizes.items():
                if size != n:
                    self.problems.add(None, name, f"has {size} instances; input {first!r} has {n}")
        if self.offset != len(self.binary) and not self.problems:
            self.problems.add(
                None, None, f"{len(self.binary) - self.offset} bytes of binary data belong to no input"
            )


def _requested_outputs(document: dict[str, Any], names: list[str]) -> tuple[list[str] | None, set[str]]:
    parameters = document.get("parameters")
    binary_all = isinstance(parameters, dict) and parameters.get("binary_data_output") is True
    requested = document.get("outputs")
    if requested is None:
        return None, set(names) if binary_all else set()
    if not isinstance(requested, list):
        raise _invalid("outputs", "must be a list of {name, parameters}")
    chosen, binary = [], set()
    for index, output in enumerate(requested):
        name = output.get("name") if isinstance(output, dict) else None
        if name not in names:
            raise _invalid(
                name if isinstance(name, str) else f"outputs[{index}]",
                f"is not an output of this model ({', '.join(names)})",
            )
        chosen.append(name)
        options = output.get("parameters")
        flag = options.get("binary_data") if isinstance(options, dict) else None
        if flag is True or (flag is None and binary_all):
            binary.add(name)
    return chosen, binary


def _invalid(field_name: str, message: str) -> InvalidRequest:
    return InvalidRequest(
        "the request does not match the Open Inference Protocol",
        [{"instance": None, "field": field_name, "message": message}],
    )


def infer_request(
    document: Any,
    binary: bytes,
    features: list[NumericFeature | CategoricalFeature],
    output_names: list[str],
    max_instances: int,
) -> InferRequest:
    """A parsed infer request as instances /predict validates. Raises InvalidRequest naming every input
    tensor with a problem (wrong datatype, shape, length, unknown or missing input, binary data that does
    not add up), or 413 when the batch is larger than `max_instances`."""
    if not isinstance(document, dict):
        raise _invalid("inputs", 'the body must be a JSON object: {"inputs": [...]}')
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise _invalid("inputs", "must be a non-empty list of input tensors")
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise _invalid("id", "must be a string")
    outputs, binary_outputs = _requested_outputs(document, output_names)
    tensors = _Tensors(features, binary, max_instances)
    for index, tensor in enumerate(inputs):
        tensors.add(index, tensor)
    if tensors.largest > max_instances:
        raise InvalidRequest(
            f"too many instances: {tensors.largest} > {max_instances}",
            [{"instance": None, "field": "shape", "message": f"at most {max_instances} per request"}],
            status=413,
        )
    tensors.finish()
    if tensors.problems:
        raise InvalidRequest(
            f"{tensors.problems.total} problem(s) in the input tensors",
            [p.model_dump() for p in tensors.problems.details],
            truncated=tensors.problems.total - len(tensors.problems.details),
        )
    names = list(tensors.columns)
    rows = zip(*tensors.columns.values(), strict=True)
    return InferRequest(
        instances=[dict(zip(names, row, strict=True)) for row in rows],
        id=request_id,
        outputs=outputs,
        binary=binary_outputs,
    )


def _label_tensor(labels: list[Any]) -> tuple[str, Any]:
    if all(type(v) is int for v in labels):
        return "INT64", labels
    if all(type(v) in (int, float) for v in labels):
        return "FP64", labels
    return BYTES, [str(v) for v in labels]


def _output_tensors(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    predictions = answer["predictions"]
    n = len(predictions)
    if "probabilities" not in answer:
        values = [math.nan if v is None else v for v in predictions]
        return {VALUE_OUTPUT: {"datatype": "FP32", "shape": [n, 1], "data": values}}
    datatype, labels = _label_tensor(predictions)
    probabilities = answer["probabilities"]
    k = len(answer.get("classes") or ()) or (len(probabilities[0]) if probabilities else 0)
    return {
        LABEL_OUTPUT: {"datatype": datatype, "shape": [n], "data": labels},
        PROBABILITIES_OUTPUT: {
            "datatype": "FP32",
            "shape": [n, k],
            "data": [p for row in probabilities for p in row],
            # which column is which class, as JSON text (parameters hold scalars only)
            "parameters": {"classes": json.dumps(answer.get("classes"))},
        },
    }


def _raw(datatype: str, data: list[Any]) -> bytes:
    if datatype == BYTES:
        encoded = [str(v).encode("utf-8") for v in data]
        return b"".join(struct.pack("<I", len(e)) + e for e in encoded)
    return np.asarray(data, dtype=np.dtype(NUMERIC_DTYPES[datatype])).tobytes()


def infer_response(answer: dict[str, Any], request: InferRequest) -> tuple[dict[str, Any], bytes]:
    """The infer response for a /predict answer: `model_name`, `model_version`, `id` and the output
    tensors asked for, plus the binary data of those asked in binary (b"" when none: all JSON). NaN
    (a regressor's non-finite value) is null in JSON."""
    tensors = _output_tensors(answer)
    names = request.outputs if request.outputs is not None else list(tensors)
    outputs, chunks = [], []
    for name in names:
        tensor = {"name": name, **tensors[name]}
        if name in request.binary:
            raw = _raw(tensor["datatype"], tensor.pop("data"))
            tensor["parameters"] = {**tensor.get("parameters", {}), "binary_data_size": len(raw)}
            chunks.append(raw)
        elif tensor["datatype"] == "FP32":
            tensor["data"] = [None if isinstance(v, float) and math.isnan(v) else v for v in tensor["data"]]
        outputs.append(tensor)
    header = {
        "model_name": answer["model"],
        "model_version": str(answer["version"]),
        "id": answer["request_id"],
        "outputs": outputs,
    }
    return header, b"".join(chunks)
