"""One training run end to end — validate, split, fit, export, prove parity, evaluate, compare with the
champion, apply the gates — and the model folder it produces. `sluice train` is this module; the
state machine runs the same steps one Lambda at a time."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluice.card import Lineage, ModelCard, build_card, render_card_html
from sluice.errors import ValidationFailed
from sluice.evaluation import Evaluation, GateResult, apply_gates, evaluate
from sluice.export import ParityResult, check_parity, export_onnx
from sluice.reference import REFERENCE_FILE, reference_sample
from sluice.spec import ModelSpec
from sluice.table import RawTable
from sluice.training import fit_pipeline, split_holdout
from sluice.validation import ValidationReport, validate_table

MODEL_FILE = "model.onnx"
CARD_FILE = "card.json"
CARD_HTML_FILE = "card.html"
EVALUATION_FILE = "evaluation.json"
VALIDATION_FILE = "validation.json"

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class TrainingRun:
    """Everything one run produced. `onnx_model` is set only when the export passed parity."""

    spec: ModelSpec
    version: str
    validation: ValidationReport
    parity: ParityResult
    evaluation: Evaluation
    champion: Evaluation | None
    gates: GateResult
    card: ModelCard
    onnx_model: bytes | None
    reference: bytes

    @property
    def servable(self) -> bool:
        return self.onnx_model is not None

    def summary(self) -> dict[str, Any]:
        """The machine-readable result printed by `sluice train --json`."""
        return {
            "model": self.spec.name,
            "version": self.version,
            "servable": self.servable,
            "metric": self.spec.metric.value,
            "metrics": self.evaluation.metrics,
            "champion_metrics": self.champion.metrics if self.champion else None,
            "parity": self.parity.model_dump(mode="json"),
            "gates": self.gates.model_dump(mode="json"),
            "fairness": self.evaluation.fairness.model_dump(mode="json")
            if self.evaluation.fairness
            else None,
            "importance": {k: v.mean for k, v in self.evaluation.importance.items()},
            "latency_ms_single_row": self.evaluation.latency_ms_single_row,
            "model_size_bytes": self.evaluation.model_size_bytes,
            "model_sha256": self.card.lineage.model_sha256,
            "dataset_sha256": self.card.lineage.dataset_sha256,
            "spec_sha256": self.spec.sha256,
            "rows": {"train": self.card.lineage.rows_train, "holdout": self.card.lineage.rows_holdout},
        }


def train_and_evaluate(
    spec: ModelSpec,
    table: RawTable,
    *,
    dataset_sha256: str,
    version: str,
    champion_model: bytes | None = None,
    run_id: str | None = None,
    trigger: str | None = None,
    progress: Progress = _quiet,
) -> TrainingRun:
    """Run every step on a table. Raises ValidationFailed (carrying the report) for bad data, SpecError
    for unusable algorithm params and ExportFailed when skl2onnx cannot convert; a parity failure is
    not raised but leaves `onnx_model` unset and fails the run's verdict."""
    progress(f"validating {table.n_rows} rows against spec '{spec.name}'")
    validation = validate_table(spec, table)
    if not validation.passed:
        raise ValidationFailed(f"{table.source}: data does not match the spec", validation)
    split = split_holdout(spec, table)
    progress(
        f"training {spec.algorithm.name.value} on {split.train.n_rows} rows ({split.holdout.n_rows} held out)"
    )
    pipeline = fit_pipeline(spec, split.train)
    progress("exporting to ONNX and checking parity with scikit-learn")
    candidate = export_onnx(pipeline, spec, version=version)
    parity = check_parity(pipeline, candidate, spec, split.holdout)
    progress(f"evaluating on the holdout{' against the champion' if champion_model else ''}")
    evaluation = evaluate(candidate, spec, split.holdout)
    champion = evaluate(champion_model, spec, split.holdout, detailed=False) if champion_model else None
    gates = apply_gates(spec, evaluation, champion)
    lineage = Lineage(
        dataset_sha256=dataset_sha256,
        dataset_source=table.source,
        spec_sha256=spec.sha256,
        rows_train=split.train.n_rows,
        rows_holdout=split.holdout.n_rows,
        model_sha256=evaluation.model_sha256,
        run_id=run_id,
        trigger=trigger,
    )
    card = build_card(
        spec=spec,
        version=version,
        lineage=lineage,
        parameters=pipeline.steps[-1][1].get_params(),
        parity=parity,
        evaluation=evaluation,
        gates=gates,
        champion=champion,
    )
    return TrainingRun(
        spec=spec,
        version=version,
        validation=validation,
        parity=parity,
        evaluation=evaluation,
        champion=champion,
        gates=gates,
        card=card,
        onnx_model=candidate if parity.passed else None,
        reference=reference_sample(spec, split.train, candidate),
    )


def write_model_folder(run: TrainingRun, out: Path) -> list[Path]:
    """Write the run's files; model.onnx only when the export passed parity. Returns what was written."""
    out.mkdir(parents=True, exist_ok=True)
    stale = out / MODEL_FILE
    if stale.exists():
        stale.unlink()  # never leave an earlier run's model beside this run's failed card
    files: dict[str, bytes] = {
        CARD_FILE: run.card.model_dump_json(indent=2).encode(),
        CARD_HTML_FILE: render_card_html(run.card).encode(),
        EVALUATION_FILE: json.dumps(
            {
                "evaluation": run.evaluation.model_dump(mode="json"),
                "champion": run.champion.model_dump(mode="json") if run.champion else None,
                "gates": run.gates.model_dump(mode="json"),
                "parity": run.parity.model_dump(mode="json"),
            },
            indent=2,
        ).encode(),
        VALIDATION_FILE: run.validation.model_dump_json(indent=2).encode(),
        REFERENCE_FILE: run.reference,
    }
    if run.onnx_model is not None:
        files[MODEL_FILE] = run.onnx_model
    written = []
    for name, data in files.items():
        path = out / name
        path.write_bytes(data)
        written.append(path)
    return written
