"""The model folder `sluice train` writes: model.onnx (only when the export passed parity), the card as
JSON and HTML, the evaluation document, the validation report and the reference sample. A tool for
people: the state machine stores the same documents in S3 (sluice.app.training.steps)."""

from __future__ import annotations

import json
from pathlib import Path

from sluice.domain.candidate import Candidate
from sluice.domain.monitoring.reference import REFERENCE_FILE
from sluice.domain.reports.card import render_card_html

MODEL_FILE = "model.onnx"
CARD_FILE = "card.json"
CARD_HTML_FILE = "card.html"
EVALUATION_FILE = "evaluation.json"
VALIDATION_FILE = "validation.json"


def write_model_folder(candidate: Candidate, out: Path) -> list[Path]:
    """Write the candidate's files; model.onnx only when the export passed parity. Returns what was
    written."""
    out.mkdir(parents=True, exist_ok=True)
    stale = out / MODEL_FILE
    if stale.exists():
        stale.unlink()  # never leave an earlier model beside this candidate's failed card
    files: dict[str, bytes] = {
        CARD_FILE: candidate.card.model_dump_json(indent=2).encode(),
        CARD_HTML_FILE: render_card_html(candidate.card).encode(),
        EVALUATION_FILE: json.dumps(candidate.evaluation_document, indent=2).encode(),
        VALIDATION_FILE: candidate.validation.model_dump_json(indent=2).encode(),
        REFERENCE_FILE: candidate.reference,
    }
    if candidate.onnx_model is not None:
        files[MODEL_FILE] = candidate.onnx_model
    written = []
    for name, data in files.items():
        path = out / name
        path.write_bytes(data)
        written.append(path)
    return written
