"""The local API front hands bodies to the function as API Gateway does with the PredictionApi's
BinaryMediaTypes ("*/*", for the Open Inference Protocol's binary tensors): base64-encoded, whatever the
Content-Type; a route of an Api without binary media types gets UTF-8 text as before."""

from __future__ import annotations

import base64

from sluice.tools.local.api.gateway import Route, api_routes, proxy_event
from sluice.tools.local.template import load_sam
from tests.integration.conftest import ROOT


def test_every_prediction_route_takes_any_media_type_as_binary() -> None:
    # Given the template's routes / Then each PredictFunction route carries its Api's "*/*" (from "*~1*")
    routes = [r for r in api_routes(load_sam(ROOT / "template.yaml")) if r.logical_id == "PredictFunction"]
    assert {r.binary_media_types for r in routes} == {("*/*",)}
    assert {"/v2/models/{model}/infer", "/models/{model}/invocations"} <= {r.resource for r in routes}


def test_a_binary_media_type_body_arrives_base64_encoded_and_text_otherwise() -> None:
    body = b'{"instances": []}'
    binary = Route("POST", "/models/{model}/predict", "PredictFunction", binary_media_types=("*/*",))
    plain = Route("POST", "/models/{model}/predict", "PredictFunction")
    headers = {"content-type": "application/json"}
    # When the same JSON body is sent to a route of each kind
    encoded = proxy_event(binary, "POST", "/models/m/predict", headers, body)
    text = proxy_event(plain, "POST", "/models/m/predict", headers, body)
    # Then the binary route's event holds it base64-encoded, the other as text
    assert encoded["isBase64Encoded"] and base64.b64decode(encoded["body"]) == body
    assert (text["isBase64Encoded"], text["body"]) == (False, body.decode())
    # And bytes that are not UTF-8 reach either route intact
    raw = b"\x00\xff\xfe"
    assert base64.b64decode(proxy_event(plain, "POST", "/models/m/predict", {}, raw)["body"]) == raw
