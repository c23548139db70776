"""The API's routes in template.yaml: each one's function and authentication (SigV4 or the API key by
the ApiAuth parameter; open; the console's Cognito users), and the Cognito user pool of the console."""

from __future__ import annotations

from typing import Any

from sluice.tools.local.template import translate
from tests.unit.test_template import RESOURCES, ROOT, SAM

API_BODY: dict[str, Any] = RESOURCES["PredictionApi"]["Properties"]["DefinitionBody"]

OPEN_ROUTES = {
    ("get", "/openapi.json"),
    ("get", "/console"),
    ("get", "/console/assets/{asset}"),
    ("post", "/console/api/sign-in"),
}
CONSOLE_USER_ROUTES = {("x-amazon-apigateway-any-method", "/console/api/{proxy+}")}


def api_events() -> set[tuple[str, str]]:
    events = [
        event
        for function in ("PredictFunction", "ConsoleFunction")
        for event in RESOURCES[function]["Properties"]["Events"].values()
    ]
    return {
        (
            "x-amazon-apigateway-any-method"
            if e["Properties"]["Method"] == "any"
            else e["Properties"]["Method"],
            e["Properties"]["Path"],
        )
        for e in events
        if e["Type"] == "Api"
    }


def test_every_route_but_the_open_ones_requires_sigv4_the_api_key_or_a_console_user() -> None:
    # Given the routes the function's events declare and those the API's OpenAPI body configures
    routes = {(method, path) for path, item in API_BODY["paths"].items() for method in item}
    assert routes == api_events()
    schemes = API_BODY["components"]["securitySchemes"]
    assert schemes["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    assert schemes["api_key"] == {"type": "apiKey", "name": "x-api-key", "in": "header"}
    assert schemes["console_users"]["x-amazon-apigateway-authtype"] == "cognito_user_pools"
    assert schemes["console_users"]["x-amazon-apigateway-authorizer"] == {
        "type": "cognito_user_pools",
        "providerARNs": [{"Fn::GetAtt": ["ConsoleUserPool", "Arn"]}],
    }
    # Then each route is authenticated by the ApiAuth mode, except the OpenAPI document and the console's
    # page, assets and sign-in; the console's API by its users' Cognito ID tokens
    for method, path in routes:
        security = API_BODY["paths"][path][method]["security"]
        if (method, path) in OPEN_ROUTES:
            assert security == []
        elif (method, path) in CONSOLE_USER_ROUTES:
            assert security == [{"console_users": []}]
        else:
            assert security == {"Fn::If": ["UseIam", [{"sigv4": []}], [{"api_key": []}]]}, path


def test_predict_function_uses_snapstart_and_the_api_invokes_its_alias() -> None:
    props = RESOURCES["PredictFunction"]["Properties"]
    assert props["AutoPublishAlias"] == "live"
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    translated = translate(ROOT / "template.yaml", code_bucket="code", region="us-east-1")
    # the SAM translation (before the local stack strips API Gateway) routes to the alias
    for method, path in api_events():
        uri = API_BODY["paths"][path][method]["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        function = "${ConsoleFunction.Arn}" if path.startswith("/console") else "${PredictFunction.Alias}"
        assert function in uri
    assert "PredictFunction" in translated.functions


def test_the_console_user_pool_takes_emails_from_administrators_only_with_strong_passwords() -> None:
    pool = RESOURCES["ConsoleUserPool"]["Properties"]
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}
    policy = pool["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 12
    assert all(policy[f"Require{kind}"] for kind in ("Lowercase", "Uppercase", "Numbers", "Symbols"))
    # And multi-factor sign-in is a parameter: off, or optional with an authenticator app
    assert SAM["Parameters"]["ConsoleMfa"]["AllowedValues"] == ["OFF", "OPTIONAL"]
    assert pool["MfaConfiguration"] == {"Ref": "ConsoleMfa"}
    assert pool["EnabledMfas"] == {
        "Fn::If": ["ConsoleMfaOptional", ["SOFTWARE_TOKEN_MFA"], {"Ref": "AWS::NoValue"}]
    }


def test_the_console_client_has_no_secret_and_hides_whether_a_user_exists() -> None:
    client = RESOURCES["ConsoleUserPoolClient"]["Properties"]
    assert client["UserPoolId"] == {"Ref": "ConsoleUserPool"}
    assert client["GenerateSecret"] is False
    assert client["PreventUserExistenceErrors"] == "ENABLED"
    assert set(client["ExplicitAuthFlows"]) == {
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    }


def test_the_console_groups_and_outputs() -> None:
    groups = {
        r["Properties"]["GroupName"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::Cognito::UserPoolGroup"
        and r["Properties"]["UserPoolId"] == {"Ref": "ConsoleUserPool"}
    }
    assert groups == {"viewers", "operators", "admins"}
    assert {"ConsoleUserPoolId", "ConsoleUserPoolClientId", "ConsoleUrl"} <= set(SAM["Outputs"])


def test_the_raw_bucket_takes_browser_posts_from_the_console_origin_only() -> None:
    (rule,) = RESOURCES["RawBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedMethods"] == ["POST"]
    assert rule["AllowedOrigins"] == [
        {
            "Fn::If": [
                "ConsoleOriginGiven",
                {"Ref": "ConsoleOrigin"},
                {"Fn::Sub": "https://*.execute-api.${AWS::Region}.${AWS::URLSuffix}"},
            ]
        }
    ]
