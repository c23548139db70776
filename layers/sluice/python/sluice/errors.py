"""Domain exceptions. Adapters translate SDK errors into these; the API and CLI map them to
status codes and exit codes in one place each."""

from __future__ import annotations

from typing import ClassVar


class SluiceError(Exception):
    """Base class for every error Sluice raises on purpose."""


class SpecError(SluiceError):
    """A model spec cannot be read or does not validate. The message names the key."""


class SearchFailed(SpecError):
    """No candidate of the spec's search could be scored (each one's error is in the experiment)."""


class DataUnreadable(SluiceError):
    """A data file cannot be read at all (missing, not UTF-8, not CSV)."""


class ParityFailed(SluiceError):
    """The ONNX export does not reproduce the scikit-learn model's predictions."""


class ExportFailed(SluiceError):
    """skl2onnx could not convert the trained pipeline."""


class ModelNotFound(SluiceError):
    """No such model, version or production alias."""


class PromotionConflict(SluiceError):
    """The production alias moved since it was read: another promotion won the conditional write."""


class RolloutBusy(SluiceError):
    """Another version's shadow or canary rollout is running: one live rollout at a time per model."""


class ArtifactNotFound(SluiceError):
    """An object the registry points to is missing from S3."""


class ArtifactCorrupt(SluiceError):
    """An artifact's bytes do not match the sha256 the registry recorded for it."""


class StackError(SluiceError):
    """An AWS call failed for a reason that is not the caller's input (throttling, permissions,
    a missing resource); carries the service's error code."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class IdentityUnavailable(SluiceError):
    """The caller's AWS identity could not be established (STS GetCallerIdentity failed: no or expired
    credentials, STS unreachable). A person's action on a model records who did it, so it cannot go on."""


class NoProductionVersion(ModelNotFound):
    """The model exists but no version is in production."""


class ModelUnavailable(SluiceError):
    """The production model cannot be served (e.g. its file failed the integrity check)."""


class InvalidRequest(SluiceError):
    """A client request that cannot be served as sent; `details` names each instance and field."""

    def __init__(
        self,
        message: str,
        details: list[dict[str, object]] | None = None,
        status: int = 400,
        truncated: int = 0,
        kinds: dict[tuple[str | None, str], int] | None = None,
    ) -> None:
        super().__init__(message)
        self.details = details or []
        self.status = status
        self.truncated = truncated  # problems counted but not listed in `details`
        self.kinds = kinds  # every problem of the instances counted by (field, kind), for monitoring


class ChampionUnverifiable(SluiceError):
    """The production model's file fails its sha256 check (or is missing), so a challenger cannot be
    compared with it: the run is rejected rather than promoted past an unchecked regression gate."""


class TrainingTaskFailed(SluiceError):
    """The Fargate training task stopped without a result (it crashed, ran out of memory, or could not
    start); the message carries ECS's reason and the container's exit code."""


class ExplanationUnavailable(InvalidRequest):
    """The served version cannot be explained: it was trained before versions stored a background
    sample (a 409 naming the version; retraining stores one)."""

    def __init__(self, message: str, details: list[dict[str, object]] | None = None) -> None:
        super().__init__(message, details, status=409)


class Forbidden(SluiceError):
    """The signed-in user's groups do not allow what they asked (a 403 naming the action and groups)."""


class SignInFailed(SluiceError):
    """The email and password do not match an account (Cognito's answer, whatever the reason)."""


class SignInChallenge(SluiceError):
    """Cognito asks one more step of a sign-in (`challenge`, its name); `session` carries the sign-in on."""

    challenge: ClassVar[str]

    def __init__(self, message: str, session: str) -> None:
        super().__init__(message)
        self.session = session


class NewPasswordRequired(SignInChallenge):
    """The account signs in with a temporary password: a new one must be chosen."""

    challenge = "NEW_PASSWORD_REQUIRED"


class CodeRequired(SignInChallenge):
    """The account has two-step sign-in (an authenticator app): its current code completes the sign-in."""

    challenge = "SOFTWARE_TOKEN_MFA"


class Unauthenticated(SluiceError):
    """A console request without the verified claims of a signed-in user."""
