"""Signing in to the console's Cognito user pool with an email and password (InitiateAuth
USER_PASSWORD_AUTH through the app client, and the NEW_PASSWORD_REQUIRED challenge of an account created
with a temporary password). The password goes to Cognito only; nothing here logs it."""

from __future__ import annotations

import base64
import json
from typing import Any

from botocore.exceptions import ClientError

from sluice.adapters import aws_call, client, error_code
from sluice.errors import InvalidRequest, NewPasswordRequired, SignInFailed

SIGN_IN_FAILED = "That email and password do not match an account."
_REFUSED = {
    "NotAuthorizedException",
    "UserNotFoundException",
    "UserNotConfirmedException",
    "PasswordResetRequiredException",
}


def token_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT Cognito just issued (not verified here: API Gateway verifies it on every
    request that uses it); {} when it cannot be read."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


class CognitoSignIn:
    def __init__(self, client_id: str, idp: Any | None = None) -> None:
        self.client_id = client_id
        self._idp = idp

    @property
    def idp(self) -> Any:
        if self._idp is None:
            self._idp = client("cognito-idp")
        return self._idp

    def sign_in(self, email: str, password: str) -> dict[str, Any]:
        """{"id_token", "expires_in", "claims"}; SignInFailed, or NewPasswordRequired with its session."""
        answer = self._call(
            lambda: self.idp.initiate_auth(
                ClientId=self.client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": email, "PASSWORD": password},
            )
        )
        return self._tokens(answer)

    def new_password(self, email: str, new_password: str, session: str) -> dict[str, Any]:
        """Complete NEW_PASSWORD_REQUIRED: {"id_token", "expires_in"}."""
        answer = self._call(
            lambda: self.idp.respond_to_auth_challenge(
                ClientId=self.client_id,
                ChallengeName="NEW_PASSWORD_REQUIRED",
                Session=session,
                ChallengeResponses={"USERNAME": email, "NEW_PASSWORD": new_password},
            )
        )
        return self._tokens(answer)

    def _call(self, call: Any) -> dict[str, Any]:
        with aws_call("sign in"):
            try:
                return dict(call())
            except ClientError as exc:
                code = error_code(exc)
                if code in _REFUSED or code in ("CodeMismatchException", "ExpiredCodeException"):
                    raise SignInFailed(SIGN_IN_FAILED) from None
                if code == "InvalidPasswordException":
                    message = str(exc.response.get("Error", {}).get("Message") or "too weak")
                    raise InvalidRequest(
                        "the new password does not meet the password policy",
                        [{"field": "new_password", "message": message[:200]}],
                    ) from None
                if code == "InvalidParameterException":
                    raise InvalidRequest(
                        "the sign-in request is not valid", [{"field": "email", "message": "invalid"}]
                    ) from None
                raise

    @staticmethod
    def _tokens(answer: dict[str, Any]) -> dict[str, Any]:
        if answer.get("ChallengeName") == "NEW_PASSWORD_REQUIRED":
            raise NewPasswordRequired(
                "Choose a new password to finish signing in.", str(answer.get("Session"))
            )
        if answer.get("ChallengeName"):
            raise SignInFailed(
                f"This account needs {answer['ChallengeName']}, which the console does not offer yet."
            )
        result = answer.get("AuthenticationResult") or {}
        if "IdToken" not in result:
            raise SignInFailed(SIGN_IN_FAILED)
        token = str(result["IdToken"])
        return {
            "id_token": token,
            "expires_in": int(result.get("ExpiresIn") or 3600),
            "claims": token_claims(token),
        }
