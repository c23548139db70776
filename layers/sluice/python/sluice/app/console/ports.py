"""What the console needs beyond a stack's training deps: the raw bucket's uploads (init.yaml, pre-signed
POSTs) and a run's history; its deps and limits, built by `sluice.entrypoints.wiring.console_function`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sluice.app.ports import TrainingDeps


class RawUploads(Protocol):
    """The raw bucket, where uploads land and IngestFunction picks them up."""

    def exists(self, key: str) -> bool: ...
    def put_text(self, key: str, text: str) -> None: ...
    def presigned_post(self, key: str, max_bytes: int, expires_seconds: int) -> dict[str, Any]:
        """{"url", "fields"}: a POST of multipart/form-data with `fields` then `file` stores exactly
        `key`, of 1 to `max_bytes` bytes, until `expires_seconds` from now."""
        ...

    def post_origin(self) -> str:
        """The scheme and host a browser sends pre-signed POSTs to (for the page's CSP)."""
        ...


class RunHistory(Protocol):
    """A TrainAndPromote execution and the events of its history, oldest first."""

    def describe(self, arn: str) -> dict[str, Any]: ...
    def history(self, arn: str) -> list[dict[str, Any]]: ...


class Accounts(Protocol):
    """The console's user pool. Signing in with an email and password answers the tokens ({"id_token",
    "access_token", "expires_in", "claims": the ID token's, as issued}), or raises SignInFailed, or
    NewPasswordRequired whose session `new_password` completes, or CodeRequired whose session
    `answer_code` completes. `mfa` is the pool's two-step setting ("OFF" or "OPTIONAL"); the
    authenticator calls act for the user whose access token they are given."""

    mfa: str

    def sign_in(self, email: str, password: str) -> dict[str, Any]: ...
    def new_password(self, email: str, new_password: str, session: str) -> dict[str, Any]: ...
    def answer_code(self, email: str, code: str, session: str) -> dict[str, Any]: ...
    def authenticator_enabled(self, access_token: str) -> bool: ...
    def start_authenticator(self, access_token: str) -> str:
        """A new secret (base32) for the user's authenticator app."""
        ...

    def confirm_authenticator(self, access_token: str, code: str, device: str) -> None:
        """Check a code made from that secret, then ask for the app's code at every sign-in."""
        ...


@dataclass(frozen=True, kw_only=True)
class ConsoleDeps(TrainingDeps):
    """ConsoleFunction: reads the registry and artifacts, answers approvals, starts retrainings, writes
    init.yaml and signs uploads into the raw bucket, reads runs' histories."""

    uploads: RawUploads
    runs: RunHistory
    accounts: Accounts


@dataclass(frozen=True)
class ConsoleLimits:
    max_upload_bytes: int
    upload_expires_seconds: int = 3600
