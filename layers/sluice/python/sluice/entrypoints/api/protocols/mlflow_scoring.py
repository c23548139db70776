"""MLflow's scoring format (`POST /invocations` of `mlflow models serve`) in Sluice's terms: the body's
rows become the instances /predict validates, and the answer is `{"predictions": [...]}` (a classifier's
labels, as MLflow's scikit-learn flavour answers; a regressor's values)."""

from __future__ import annotations

from typing import Any

from sluice.domain.scoring.echo import MAX_ECHO
from sluice.domain.scoring.onnx_model import InstanceProblems
from sluice.errors import InvalidRequest

INPUT_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def _invalid(field: str | None, message: str) -> InvalidRequest:
    return InvalidRequest(
        "the request does not match MLflow's scoring format",
        [{"instance": None, "field": field, "message": message}],
    )


def _split_rows(split: Any) -> list[Any]:
    """`{columns, data[, index]}` (pandas' split orient) as rows; a 400 names every malformed row."""
    if not isinstance(split, dict):
        raise _invalid("dataframe_split", "must be an object {columns, data[, index]}")
    columns, data = split.get("columns"), split.get("data")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise _invalid("dataframe_split.columns", "must be a list of column names")
    if len(set(columns)) != len(columns):
        raise _invalid("dataframe_split.columns", "names a column twice")
    if not isinstance(data, list):
        raise _invalid("dataframe_split.data", "must be a list of rows (lists of values)")
    index = split.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != len(data)):
        raise _invalid("dataframe_split.index", "must be a list with one entry per row of data")
    problems = InstanceProblems(details=[])
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            problems.add(i, "dataframe_split.data", f"must be a list of {len(columns)} values, as columns")
    if problems:
        raise InvalidRequest(
            f"{problems.total} problem(s) in dataframe_split.data",
            [p.model_dump() for p in problems.details],
            truncated=problems.total - len(problems.details),
        )
    return [dict(zip(columns, row, strict=True)) for row in data]


def _columnar_rows(inputs: dict[str, Any]) -> list[Any]:
    """`{column: [values]}` (MLflow's columnar `inputs`) as rows."""
    lengths = {name: len(v) if isinstance(v, list) else -1 for name, v in inputs.items()}
    for name, length in lengths.items():
        if length < 0:
            raise _invalid(f"inputs.{name}", "must be a list of values, one per row")
    if len(set(lengths.values())) > 1:
        first = next(iter(lengths))
        odd = next(name for name, n in lengths.items() if n != lengths[first])
        raise _invalid(f"inputs.{odd}", f"has {lengths[odd]} values; {first} has {lengths[first]}")
    names = list(inputs)
    return [dict(zip(names, row, strict=True)) for row in zip(*inputs.values(), strict=True)]


def scoring_instances(body: Any) -> list[Any]:
    """The rows of an MLflow scoring request, as /predict instances (checked there against the model).
    Accepts exactly one of `dataframe_split`, `dataframe_records`, `instances`, `inputs` (columnar or
    records); a 400 names the key otherwise. `params` are not supported (a 400 names them)."""
    if not isinstance(body, dict):
        raise _invalid(None, f"the body must be a JSON object with one of {', '.join(INPUT_FORMATS)}")
    given = [key for key in INPUT_FORMATS if key in body]
    unknown = sorted(set(body) - {*INPUT_FORMATS, "params"})
    if unknown:
        raise _invalid(
            unknown[0][:MAX_ECHO], f"is not a key of the scoring format ({', '.join(INPUT_FORMATS)})"
        )
    if len(given) != 1:
        message = "send one of them" if not given else "send only one of them"
        raise _invalid(", ".join(given or INPUT_FORMATS), message)
    params = body.get("params")
    if params is not None and not isinstance(params, dict):
        raise _invalid("params", "must be an object of inference parameters (Sluice models take none)")
    if params:
        raise _invalid("params", "are not supported: Sluice models take no inference parameters")
    key = given[0]
    value = body[key]
    if key == "dataframe_split":
        return _split_rows(value)
    if key == "inputs" and isinstance(value, dict):
        return _columnar_rows(value)
    if not isinstance(value, list):
        raise _invalid(key, "must be a list of records ({column: value})")
    return value
