"""A console upload: start it (a new model's init.yaml, then a pre-signed POST the browser sends the file
with, straight to the raw bucket) and follow it (waiting, quarantined with its report in words, or
accepted with its dataset and training run); a quarantine report in words (domain/data/quarantine_words.py)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import yaml

from sluice.app.console.access import require_actor, require_reader
from sluice.app.console.ports import ConsoleDeps, ConsoleLimits
from sluice.domain.data.quarantine_words import quarantine_words
from sluice.domain.registry.identity import ConsoleUser
from sluice.domain.registry.records import MODEL_NAME, EventType
from sluice.errors import InvalidRequest, SluiceError

UPLOAD_KEY = re.compile(r"^([a-z0-9][a-z0-9-]{0,62})/data/[A-Za-z0-9][A-Za-z0-9._-]{0,150}\.csv$")


def _field(error: str, field: str, message: str, status: int = 400) -> InvalidRequest:
    return InvalidRequest(error, [{"field": field, "message": message}], status=status)


def safe_file_name(file_name: str, now: datetime) -> str:
    """A key-safe name for an uploaded file: when it came, then its name's letters, digits, . _ -."""
    stem = re.sub(r"\.csv$", "", file_name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1], flags=re.IGNORECASE)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-_")[:80] or "data"
    return f"{now:%Y%m%dT%H%M%S}-{now.microsecond:06d}-{slug}.csv"


def start_upload(
    deps: ConsoleDeps,
    limits: ConsoleLimits,
    user: ConsoleUser,
    *,
    model: str,
    file_name: str,
    size: int,
    target: str | None = None,
    sensitive: str | None = None,
) -> dict[str, Any]:
    """Where the browser sends the file: {"key", "url", "fields", "max_bytes"}. With `target`, a new
    model: its `<model>/init.yaml` is written first (409 when the model exists). Without, the model must
    exist. 413 for a file over the limit."""
    require_actor(user, "Uploading data")
    if not MODEL_NAME.match(model):
        raise _field("the model name is not valid", "model", "lower case letters, digits and hyphens")
    if size > limits.max_upload_bytes:
        raise _field(
            f"the file is {size} bytes, over the limit of {limits.max_upload_bytes} bytes",
            "size",
            f"at most {limits.max_upload_bytes} bytes",
            status=413,
        )
    known = deps.registry.model_meta(model) is not None or deps.uploads.exists(f"{model}/init.yaml")
    if target is not None:
        if known:
            raise _field(
                f"a model named {model} exists; choose another name, or upload to it without a target",
                "model",
                "exists",
                status=409,
            )
        if sensitive == target:
            raise _field("the sensitive column is the column to predict", "sensitive", "choose another")
        init = {"target": target} | ({"sensitive": sensitive} if sensitive else {})
        deps.uploads.put_text(f"{model}/init.yaml", yaml.safe_dump(init, sort_keys=False))
    elif not known:
        raise _field(f"there is no model named {model}", "target", "is required for a new model")
    key = f"{model}/data/{safe_file_name(file_name, datetime.now(UTC))}"
    post = deps.uploads.presigned_post(key, limits.max_upload_bytes, limits.upload_expires_seconds)
    return {"key": key, "url": post["url"], "fields": post["fields"], "max_bytes": limits.max_upload_bytes}


def upload_status(deps: ConsoleDeps, user: ConsoleUser, key: str) -> dict[str, Any]:
    """{"key", "model", "state": waiting|quarantined|accepted, "report", "dataset_sha256", "execution"}."""
    require_reader(user)
    matched = UPLOAD_KEY.match(key)
    if matched is None:
        raise _field("the key is not a console upload's", "key", "<model>/data/<file>.csv")
    model = matched.group(1)
    answer: dict[str, Any] = {
        "key": key,
        "model": model,
        "state": "waiting",
        "report": None,
        "dataset_sha256": None,
        "execution": None,
    }
    dataset = next((d for d in deps.registry.list_datasets(model) if d.source_key == key), None)
    if dataset is not None:
        started = [
            e
            for e in deps.registry.list_events(model)
            if e.type is EventType.TRAINING_STARTED and e.details.get("dataset_sha256") == dataset.sha256
        ]
        execution = max(started, key=lambda e: e.time).execution_arn if started else None
        return answer | {"state": "accepted", "dataset_sha256": dataset.sha256, "execution": execution}
    report_uri = deps.artifacts.uri(f"quarantine/{key}.report.json")
    if deps.artifacts.exists(report_uri):
        try:
            report = json.loads(deps.artifacts.get_bytes(report_uri))
        except (SluiceError, ValueError):
            report = {}
        words = quarantine_words(key, report if isinstance(report, dict) else {})
        return answer | {
            "state": "quarantined",
            "report": {"summary": words.summary, "problems": words.problems},
        }
    return answer
