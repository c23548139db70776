"""The local HTTP front's routes from the template: a greedy `{name+}` parameter takes the rest of the
path, as API Gateway's does, and a plain `{name}` stays one segment."""

from __future__ import annotations

from sluice.tools.local.api.gateway import Route, proxy_event


def test_a_greedy_parameter_takes_every_remaining_segment_and_a_plain_one_takes_one() -> None:
    greedy = Route("GET", "/dashboard/{key+}", "PredictFunction")
    event = proxy_event(greedy, "GET", "/dashboard/models/loans/2/card.html", {}, b"")
    assert event["pathParameters"] == {"key": "models/loans/2/card.html"}
    assert event["resource"] == "/dashboard/{key+}"
    # It needs at least one segment, and the literal prefix must match
    assert greedy.pattern.match("/dashboard/") is None and greedy.pattern.match("/dashboards/x") is None
    plain = Route("GET", "/models/{model}", "PredictFunction")
    assert plain.pattern.match("/models/loans") and plain.pattern.match("/models/loans/extra") is None
