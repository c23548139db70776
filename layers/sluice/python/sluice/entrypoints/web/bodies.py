"""Reading a request's JSON body, for the prediction API and the console alike: JSON only, parsed once;
anything a client sends that json cannot read is a 400 (InvalidRequest) naming why, never a 5xx."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from sluice.domain.scoring.echo import echo
from sluice.entrypoints.web.errors import cap
from sluice.errors import InvalidRequest

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent


def invalid(error: str, field: str | None, message: str) -> InvalidRequest:
    """A 400 with one detail naming the field (None: the whole body) and what is wrong with it."""
    return InvalidRequest(error, [{"instance": None, "field": field, "message": message}])


def require_json(event: BaseProxyEvent) -> None:
    """Raise a 415 unless the request says its body is JSON (or says nothing)."""
    content_type = event.headers.get("content-type")  # case-insensitive in Powertools
    if content_type and content_type.split(";")[0].strip().lower() != "application/json":
        raise InvalidRequest(
            f"the body must be JSON, not {echo(content_type)}", status=HTTPStatus.UNSUPPORTED_MEDIA_TYPE
        )


def json_body(event: BaseProxyEvent) -> Any:
    """The request's JSON body, parsed once (Powertools' validation is off: Sluice checks instances
    against the model's own schema). Anything json cannot turn into Python is a 400, never a 5xx."""
    require_json(event)
    try:
        text = event.decoded_body
    except UnicodeDecodeError:
        raise invalid("the body is not valid JSON", None, "not UTF-8 text") from None
    return parse_json(text)


def parse_json(text: str | bytes | None) -> Any:
    """`text` as JSON; anything json cannot turn into Python is a 400 naming why, never a 5xx."""
    try:
        if not text:
            raise invalid("the body is not valid JSON", None, "the body is empty")
        return json.loads(text)
    except RecursionError:
        raise invalid("the body is not valid JSON", None, "nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise invalid("the body is not valid JSON", None, f"{exc.msg} at character {exc.pos}") from None
    except UnicodeDecodeError:
        raise invalid("the body is not valid JSON", None, "not UTF-8 text") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits (Python's int-string limit)
        raise invalid("the body is not valid JSON", None, cap(str(exc), 120)) from None
