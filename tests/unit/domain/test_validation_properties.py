"""Property-based: any rows that satisfy the spec pass validation, and any single corruption is caught
in the right column and row."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.domain.data.table import RawTable
from sluice.domain.data.validation import validate_table
from sluice.domain.spec.model_spec import CategoricalFeature, ModelSpec, NumericFeature, load_spec
from tests.conftest import spec_path

SPEC = load_spec(spec_path("credit-risk"))


def _numeric(feature: NumericFeature) -> st.SearchStrategy[str]:
    low = feature.min if feature.min is not None else -1e9
    high = feature.max if feature.max is not None else 1e9
    values = st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False).map(repr)
    return st.one_of(values, st.just("")) if feature.nullable else values


def _categorical(feature: CategoricalFeature) -> st.SearchStrategy[str]:
    values = st.sampled_from(feature.categories)
    return st.one_of(values, st.just("")) if feature.nullable else values


def _row(spec: ModelSpec) -> st.SearchStrategy[dict[str, str]]:
    fields = {
        f.name: _numeric(f) if isinstance(f, NumericFeature) else _categorical(f) for f in spec.features
    }
    fields[spec.target] = st.sampled_from(["0", "1"])
    if spec.sensitive:
        fields[spec.sensitive] = st.text(min_size=0, max_size=8)
    return st.fixed_dictionaries(fields)


def _table(rows: list[dict[str, str]]) -> RawTable:
    header = list(rows[0])
    return RawTable(source="generated", header=header, columns={h: [r[h] for r in rows] for h in header})


def _targets(spec: ModelSpec, rows: list[dict[str, str]]) -> list[dict[str, str]]:
    # A classifier needs two classes: make sure both labels appear.
    rows[0][spec.target], rows[-1][spec.target] = "0", "1"
    return rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_row(SPEC), min_size=2, max_size=30))
def test_rows_that_follow_the_spec_pass(rows: list[dict[str, str]]) -> None:
    report = validate_table(SPEC, _table(_targets(SPEC, rows)))
    assert report.passed, report.to_text()


CORRUPTIONS = {
    "numeric": ["abc", "1,5", "--", "inf"],
    "categorical": ["unknown", "RETAIL", "retail "],
}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(_row(SPEC), min_size=2, max_size=30),
    feature=st.sampled_from(SPEC.features),
    position=st.integers(min_value=0),
    data=st.data(),
)
def test_a_single_corruption_is_caught_in_its_column_and_row(
    rows: list[dict[str, str]],
    feature: NumericFeature | CategoricalFeature,
    position: int,
    data: st.DataObject,
) -> None:
    rows = _targets(SPEC, rows)
    index = position % len(rows)
    if isinstance(feature, NumericFeature):
        choices = list(CORRUPTIONS["numeric"])
        if feature.min is not None:
            choices.append(repr(feature.min - 1 - abs(feature.min)))
        if feature.max is not None:
            choices.append(repr(feature.max + 1 + abs(feature.max)))
    else:
        # "retail " with a trailing space is a valid category after stripping, so it is not a corruption.
        choices = [c for c in CORRUPTIONS["categorical"] if c.strip() not in feature.categories]
    if not feature.nullable:
        choices.append("")
    bad = data.draw(st.sampled_from(choices))
    rows[index][feature.name] = bad
    report = validate_table(SPEC, _table(rows))
    assert not report.passed
    assert any(p.column == feature.name and (index + 1) in p.rows for p in report.problems), report.to_text()
