"""An authenticator app for the tests: the current TOTP code of a Cognito secret (RFC 6238: SHA1, 6
digits, 30-second steps), as Google Authenticator or 1Password computes it from the otpauth:// URI."""

from __future__ import annotations

import base64
import time

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

STEP_SECONDS = 30
# moto accepts only the code of the current step (AWS allows some clock skew): a code is taken with at
# least this long left in its step, so that it is still current when it reaches the pool.
LEFT_IN_STEP_SECONDS = 8


def current_code(secret: str) -> str:
    """The code the app shows now; waits for the next step when this one is about to end."""
    left = STEP_SECONDS - time.time() % STEP_SECONDS
    if left < LEFT_IN_STEP_SECONDS:
        time.sleep(left + 0.05)
    key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
    return TOTP(key, 6, SHA1(), STEP_SECONDS, enforce_key_length=False).generate(time.time()).decode()


def wrong_code(secret: str) -> str:
    """A code of six digits that is not the current one."""
    return f"{(int(current_code(secret)) + 1) % 1_000_000:06d}"
