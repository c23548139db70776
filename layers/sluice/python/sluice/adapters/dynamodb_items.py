"""DynamoDB items in the low-level client's wire format, both ways, without importing boto3."""

from __future__ import annotations

import math
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

# DynamoDB's numbers: 38 significant digits, exponents -130..125 (what boto3 checks, raising the same
# decimal errors: a number DynamoDB would refuse never leaves this process).
_DYNAMODB_NUMBERS = Context(
    Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow]
)


def _attribute(value: Any) -> dict[str, Any]:
    """A value as a DynamoDB attribute (the low-level client's wire format). Written here rather than
    taken from boto3's TypeSerializer: importing boto3.dynamodb imports boto3, ~45 ms of
    PredictFunction's cold start that nothing else on its path needs (botocore alone makes the clients).
    Floats are stored by their shortest repr; a non-finite float is stored as null."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | Decimal):
        return {"N": str(_DYNAMODB_NUMBERS.create_decimal(value))}
    if isinstance(value, float):
        if not math.isfinite(value):
            return {"NULL": True}
        return {"N": str(_DYNAMODB_NUMBERS.create_decimal(Decimal(repr(value))))}
    if isinstance(value, bytes):
        return {"B": value}
    if isinstance(value, dict):
        return {"M": {str(k): _attribute(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [_attribute(v) for v in value]}
    raise TypeError(f"the registry cannot store a {type(value).__name__}")


def _number(text: str) -> int | float:
    number = Decimal(text)
    return int(number) if number == number.to_integral_value() else float(number)


def _value(attribute: dict[str, Any]) -> Any:
    """The Python value of a DynamoDB attribute: numbers as int when integral, else float."""
    ((kind, raw),) = attribute.items()
    if kind == "N":
        return _number(raw)
    if kind == "M":
        return {k: _value(v) for k, v in raw.items()}
    if kind == "L":
        return [_value(v) for v in raw]
    if kind == "NULL":
        return None
    if kind == "NS":
        return {_number(v) for v in raw}
    if kind in ("SS", "BS"):
        return set(raw)
    return raw  # S, BOOL, B


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _attribute(v) for k, v in item.items() if v is not None}


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _value(v) for k, v in item.items()}
