"""A model's spec inferred from its first data, for a model without one: `<model>/init.yaml` names the
target column (and optionally the sensitive column, a description and the intended use); the first CSV
under `<model>/data/` gives the rest (sluice.domain.data.infer_spec). The spec is registered exactly as
an uploaded spec.yaml is, and announced with its YAML so a person can read, edit and re-upload it.

Both orders work: a CSV that arrives after init.yaml infers the spec itself; init.yaml that arrives after
CSVs were quarantined for lack of a spec takes up the newest of them (app/ingest/upload.py)."""

from __future__ import annotations

import json
import logging
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sluice.app.data.stored import spec_key
from sluice.app.ports import Artifacts, CoreDeps
from sluice.domain.registry.records import AuditEvent, EventType, SpecRecord, new_event_id, s3_uri, utc_now
from sluice.errors import SpecError

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from sluice.domain.data.table import RawTable
    from sluice.domain.spec.model_spec import ModelSpec

INIT_FILES = ("init.yaml", "init.yml")
MAX_INIT_BYTES = 64 * 1024
NO_SPEC = "no_spec"  # the quarantine reason of data that arrived before its model had a spec


class InitRequest(BaseModel):
    """What `<model>/init.yaml` says: the column to predict, and what the data cannot say."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = Field(min_length=1)
    sensitive: str | None = None
    description: str | None = None
    intended_use: str | None = None


def parse_init(raw: bytes, source: str) -> InitRequest:
    """An init.yaml's request. Raises SpecError naming `source` and the wrong key."""
    if len(raw) > MAX_INIT_BYTES:
        raise SpecError(f"{source}: larger than {MAX_INIT_BYTES} bytes; it names a target column")
    try:
        document = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SpecError(f"{source}: not valid UTF-8 YAML ({exc})") from exc
    if not isinstance(document, dict):
        raise SpecError(f"{source}: a mapping such as {{target: COLUMN, sensitive: COLUMN}}")
    try:
        return InitRequest.model_validate(document)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(map(str, e['loc']))}: {'unknown key' if e['type'] == 'extra_forbidden' else e['msg']}"
            for e in exc.errors()
        ]
        raise SpecError(f"{source}: " + "; ".join(problems)) from exc


def find_init(bucket: str, model: str, artifacts: Artifacts) -> str | None:
    """The key of the model's init.yaml in the raw bucket, None when there is none."""
    return next(
        (f"{model}/{name}" for name in INIT_FILES if artifacts.exists(s3_uri(bucket, f"{model}/{name}"))),
        None,
    )


def register_spec(
    deps: CoreDeps,
    spec: ModelSpec,
    raw: bytes,
    source_key: str,
    details: dict[str, Any] | None = None,
) -> SpecRecord | None:
    """Store the spec's bytes under its hash and make it the model's current spec, with a
    spec_registered audit event (`details` added to it). None when the current spec has this hash."""
    model = spec.name
    current = deps.registry.current_spec(model)
    if current is not None and current.sha256 == spec.sha256:
        return None
    stored = deps.artifacts.put_bytes(spec_key(model, spec.sha256), raw, "application/yaml")
    record = SpecRecord(
        model=model, sha256=spec.sha256, uri=stored.uri, source_key=source_key, created_at=utc_now()
    )
    event = AuditEvent(
        model=model,
        type=EventType.SPEC_REGISTERED,
        id=new_event_id(),
        details={
            "spec_sha256": spec.sha256,
            "previous_spec_sha256": current.sha256 if current else None,
            **(details or {}),
        },
    )
    deps.registry.register_spec(record, event)
    logger.info("spec registered", extra={"model": model, "spec_sha256": spec.sha256})
    return record


def infer_and_register(
    deps: CoreDeps, bucket: str, model: str, init_key: str, table: RawTable, data_key: str
) -> SpecRecord:
    """Infer the model's spec from `table` (read from `data_key`) as `init_key` asks, register it and
    announce it with its YAML. Raises SpecError naming init.yaml when it cannot be read or names a
    column the data lacks, or when the data has nothing to learn from."""
    from sluice.domain.data.infer_spec import infer_spec

    init = parse_init(deps.artifacts.get_bytes(s3_uri(bucket, init_key)), init_key)
    try:
        inferred = infer_spec(
            table,
            target=init.target,
            name=model,
            sensitive=init.sensitive,
            description=init.description,
            intended_use=init.intended_use,
        )
    except SpecError as exc:
        raise SpecError(f"{init_key}: {exc}") from exc
    text = inferred.yaml_text()
    left_out = {name: note.comment for name, note in inferred.left_out.items()}
    record = register_spec(
        deps,
        inferred.spec,
        text.encode("utf-8"),
        init_key,
        {"inferred_from": data_key, "left_out": left_out},
    )
    if record is None:  # another upload registered the same inference first
        current = deps.registry.current_spec(model)
        assert current is not None
        return current
    deps.notifier.publish(
        f"Sluice: {model} spec inferred from {PurePosixPath(data_key).name}",
        {
            "event": "spec_inferred",
            "model": model,
            "spec_sha256": record.sha256,
            "spec_uri": record.uri,
            "source": s3_uri(bucket, data_key),
            "init": s3_uri(bucket, init_key),
            "left_out": left_out,
            "warnings": inferred.warnings,
            "spec_yaml": text,
            "message": f"Review the spec, edit it if needed and upload it as {model}/spec.yaml.",
        },
    )
    return record


def newest_waiting_upload(model: str, artifacts: Artifacts) -> str | None:
    """The URI of the model's newest data upload quarantined because the model had no spec yet, None
    when there is none."""
    waiting: list[tuple[str, str]] = []
    for key in artifacts.list_keys(f"quarantine/{model}/data/"):
        if not key.endswith(".report.json"):
            continue
        report = json.loads(artifacts.get_bytes(artifacts.uri(key)))
        if report.get("reason") == NO_SPEC and report.get("source"):
            waiting.append((str(report.get("time", "")), str(report["source"])))
    return max(waiting)[1] if waiting else None
