"""ConsoleFunction: the console's page, sign-in and API (a stub for the local stack's auth tests; the
console's routes replace it). API Gateway's Cognito authorizer has checked the ID token of every
/console/api/ route but the sign-in, and passes its claims in requestContext.authorizer.claims."""

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.settings import ConsoleSettings

Settings = ConsoleSettings
app = APIGatewayRestResolver()


@app.get("/console")
def page() -> Response[str]:
    return Response(200, "text/html; charset=utf-8", "<!doctype html><title>Sluice console</title>")


@app.get("/console/api/me")
def me() -> dict[str, Any]:
    claims = app.current_event.request_context.authorizer.claims or {}
    groups = [g for g in claims.get("cognito:groups", "").strip("[]").replace(",", " ").split() if g]
    return {
        "email": claims.get("email"),
        "sub": claims.get("sub"),
        "groups": groups,
        "can_act": bool({"operators", "admins"} & set(groups)),
    }


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
