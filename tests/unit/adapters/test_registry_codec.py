"""The registry writes DynamoDB attributes itself (boto3's TypeSerializer would import boto3 on
PredictFunction's cold start). Whatever Sluice stores must come out exactly as boto3 would write it,
and read back as it went in."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.adapters.dynamodb_items import deserialize, serialize

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=20),
    st.integers(min_value=-(10**37), max_value=10**37),
    # metrics, thresholds, parameters: DynamoDB's range, and integral floats below 2**53 (an integral
    # float reads back as an int, exact only where a float holds integers exactly)
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15).filter(
        lambda x: x == 0 or abs(x) > 1e-100
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def boto3_item(item: dict[str, Any]) -> dict[str, Any]:
    """What boto3 writes for the same item (floats go in as Decimal(repr(x)), as boto3 requires)."""

    def prepared(value: Any) -> Any:
        if isinstance(value, float):
            return Decimal(repr(value))
        if isinstance(value, dict):
            return {k: prepared(v) for k, v in value.items()}
        if isinstance(value, list):
            return [prepared(v) for v in value]
        return value

    return {k: TypeSerializer().serialize(prepared(v)) for k, v in item.items() if v is not None}


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), values, max_size=6))
def test_items_are_written_as_boto3_writes_them_and_read_back(item: dict[str, Any]) -> None:
    # Given any JSON-like item the registry may store
    # When Sluice serialises it
    written = serialize(item)
    # Then the attributes are exactly boto3's, and reading them back gives the item again
    assert written == boto3_item(item)
    assert TypeDeserializer().deserialize({"M": written}) == TypeDeserializer().deserialize(
        {"M": boto3_item(item)}
    )
    # (numbers compare by value: an integral float reads back as an int, as the registry always did)
    assert deserialize(written) == {k: v for k, v in item.items() if v is not None}


def test_numbers_dynamodb_would_refuse_are_refused_before_they_are_sent() -> None:
    # Given numbers outside DynamoDB's 38 digits / exponent range
    for number in (1e300, 10**40, 1e-200):
        # When Sluice serialises one, Then it refuses it as boto3 does (a decimal error)
        try:
            serialize({"n": number})
        except ArithmeticError:
            continue
        raise AssertionError(f"{number} was accepted")
