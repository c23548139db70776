"""Signing in to the console's Cognito user pool with an email and password (InitiateAuth
USER_PASSWORD_AUTH through the app client; the NEW_PASSWORD_REQUIRED challenge of an account created
with a temporary password; the SOFTWARE_TOKEN_MFA challenge of an account with an authenticator app),
and a signed-in user's own authenticator app (AssociateSoftwareToken, VerifySoftwareToken,
SetUserMFAPreference, GetUser: calls authorised by the user's access token, no IAM). Passwords, codes
and tokens go to Cognito only; nothing here logs them."""

from __future__ import annotations

import base64
import json
from typing import Any

from botocore.exceptions import ClientError

from sluice.adapters import aws_call, client, error_code
from sluice.errors import CodeRequired, InvalidRequest, NewPasswordRequired, SignInFailed, Unauthenticated

SIGN_IN_FAILED = "That email and password do not match an account."
WRONG_CODE = "That code is not right: enter the 6-digit code your authenticator app shows now."
SIGN_IN_EXPIRED = "This sign-in has expired: sign in again with your email and password."
SIGNED_OUT = "Your session has ended: sign in again."
_REFUSED = {
    "NotAuthorizedException",
    "UserNotFoundException",
    "UserNotConfirmedException",
    "PasswordResetRequiredException",
}
# At the code step: the session is over (Cognito), unknown (moto's answer to one it no longer holds).
_EXPIRED = {"NotAuthorizedException", "ResourceNotFoundException", "ExpiredCodeException"}


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
    """The console's app client of the pool; `mfa` is the pool's MfaConfiguration (the template's
    ConsoleMfa: OFF or OPTIONAL), which the function cannot read without IAM."""

    def __init__(self, client_id: str, mfa: str = "OFF", idp: Any | None = None) -> None:
        self.client_id = client_id
        self.mfa = mfa
        self._idp = idp

    @property
    def idp(self) -> Any:
        if self._idp is None:
            self._idp = client("cognito-idp")
        return self._idp

    def sign_in(self, email: str, password: str) -> dict[str, Any]:
        """{"id_token", "access_token", "expires_in", "claims"}; SignInFailed, or NewPasswordRequired or
        CodeRequired with its session."""
        answer = self._call(
            lambda: self.idp.initiate_auth(
                ClientId=self.client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": email, "PASSWORD": password},
            )
        )
        return self._tokens(answer)

    def new_password(self, email: str, new_password: str, session: str) -> dict[str, Any]:
        """Complete NEW_PASSWORD_REQUIRED: the tokens, as `sign_in`."""
        answer = self._call(
            lambda: self.idp.respond_to_auth_challenge(
                ClientId=self.client_id,
                ChallengeName="NEW_PASSWORD_REQUIRED",
                Session=session,
                ChallengeResponses={"USERNAME": email, "NEW_PASSWORD": new_password},
            )
        )
        return self._tokens(answer)

    def answer_code(self, email: str, code: str, session: str) -> dict[str, Any]:
        """Complete SOFTWARE_TOKEN_MFA with the app's current code: the tokens, as `sign_in`. A wrong
        code is a SignInFailed saying so (the session stays usable); an expired session, one saying so."""
        answer = self._call(
            lambda: self.idp.respond_to_auth_challenge(
                ClientId=self.client_id,
                ChallengeName="SOFTWARE_TOKEN_MFA",
                Session=session,
                ChallengeResponses={"USERNAME": email, "SOFTWARE_TOKEN_MFA_CODE": code},
            ),
            code_step=True,
        )
        return self._tokens(answer)

    def authenticator_enabled(self, access_token: str) -> bool:
        """Whether the token's user signs in with an authenticator app's code (GetUser)."""
        user = self._user_call(lambda: self.idp.get_user(AccessToken=access_token))
        return "SOFTWARE_TOKEN_MFA" in (user.get("UserMFASettingList") or [])

    def start_authenticator(self, access_token: str) -> str:
        """A new authenticator secret (base32) for the token's user (AssociateSoftwareToken); it
        signs nothing in until `confirm_authenticator` checks a code made from it."""
        answer = self._user_call(lambda: self.idp.associate_software_token(AccessToken=access_token))
        return str(answer["SecretCode"])

    def confirm_authenticator(self, access_token: str, code: str, device: str) -> None:
        """Check a code of the secret `start_authenticator` gave (VerifySoftwareToken), then make the
        app the user's second factor (SetUserMFAPreference: enabled, preferred). A wrong code is an
        InvalidRequest naming `code`."""
        self._user_call(
            lambda: self.idp.verify_software_token(
                AccessToken=access_token, UserCode=code, FriendlyDeviceName=device
            )
        )
        self._user_call(
            lambda: self.idp.set_user_mfa_preference(
                AccessToken=access_token,
                SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True},
            )
        )

    def _user_call(self, call: Any) -> dict[str, Any]:
        with aws_call("two-step sign-in"):
            try:
                return dict(call())
            except ClientError as exc:
                code = error_code(exc)
                if code in (
                    "NotAuthorizedException",
                    "UserNotFoundException",
                    "PasswordResetRequiredException",
                ):
                    raise Unauthenticated(SIGNED_OUT) from None
                if code in ("CodeMismatchException", "EnableSoftwareTokenMFAException"):
                    raise InvalidRequest(
                        "that code is not right",
                        [{"field": "code", "message": "enter the 6-digit code the app shows now"}],
                    ) from None
                if code == "InvalidParameterException":
                    message = str(exc.response.get("Error", {}).get("Message") or "not valid")
                    raise InvalidRequest(
                        "two-step sign-in cannot be set up", [{"field": "code", "message": message[:200]}]
                    ) from None
                raise

    def _call(self, call: Any, *, code_step: bool = False) -> dict[str, Any]:
        with aws_call("sign in"):
            try:
                return dict(call())
            except ClientError as exc:
                code = error_code(exc)
                if code_step and code == "CodeMismatchException":
                    raise SignInFailed(WRONG_CODE) from None
                if code_step and code in _EXPIRED:
                    raise SignInFailed(SIGN_IN_EXPIRED) from None
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
        if answer.get("ChallengeName") == "SOFTWARE_TOKEN_MFA":
            raise CodeRequired(
                "Enter the 6-digit code your authenticator app shows for this account.",
                str(answer.get("Session")),
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
            "access_token": str(result.get("AccessToken") or ""),
            "expires_in": int(result.get("ExpiresIn") or 3600),
            "claims": token_claims(token),
        }
