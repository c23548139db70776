"""`sluice train --spec SPEC --data CSV --out DIR [--champion DIR] [--workers N] [--json]`: train,
export to ONNX, prove parity, evaluate and (with a champion) apply the promotion gates. A spec with
`candidates` is first searched (each candidate cross-validated on the training part, in `--workers`
processes); the chosen one is trained, and the experiment is written beside the card."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sluice.domain.data.validation import ValidationFailed, ValidationReport, validate_source
from sluice.entrypoints.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    file_sha256,
    print_json,
    progress,
    read_spec,
    require_file,
)
from sluice.errors import ExportFailed, SearchFailed, SpecError

if TYPE_CHECKING:
    from sluice.domain.candidate import Candidate
    from sluice.domain.training.search import Experiment


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("train", help="train a model, export it to ONNX and evaluate it")
    parser.add_argument("--spec", type=Path, required=True, help="model spec (YAML)")
    parser.add_argument("--data", type=Path, required=True, help="training data (CSV)")
    parser.add_argument("--out", type=Path, required=True, help="folder for model.onnx, card, evaluation")
    parser.add_argument("--champion", type=Path, help="an earlier output folder to compare with")
    parser.add_argument("--version", default="local", help="version recorded in the model (default: local)")
    parser.add_argument(
        "--workers",
        type=_positive,
        help="processes for a candidate search (default: one per CPU; 1: in this process)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.set_defaults(func=run)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _champion_model(folder: Path | None) -> bytes | None:
    from sluice.entrypoints.cli.model_folder import MODEL_FILE

    if folder is None:
        return None
    path = folder / MODEL_FILE
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CommandError(f"--champion {folder}: no {MODEL_FILE} there ({exc.strerror})") from exc


def run(args: argparse.Namespace) -> int:
    # scikit-learn takes seconds to import: only `train` pays for it, not every `sluice` command.
    from sluice.domain.candidate import train_candidate
    from sluice.domain.training.search import EXPERIMENTS_FILE, experiment_text
    from sluice.entrypoints.cli.model_folder import write_model_folder

    spec = read_spec(args.spec)
    champion = _champion_model(args.champion)
    report, table = validate_source(spec, require_file(args.data), str(args.data))
    if table is None:
        return _not_trained(spec.name, report, args.json)
    try:
        candidate = train_candidate(
            spec,
            table,
            dataset_sha256=file_sha256(args.data),
            version=args.version,
            champion_model=champion,
            search_workers=args.workers,
            progress=progress,
        )
    except ValidationFailed as exc:
        return _not_trained(spec.name, exc.report, args.json)
    except SearchFailed as exc:
        raise CommandError(str(exc), EXIT_FAILED) from exc
    except SpecError as exc:
        raise CommandError(str(exc)) from exc
    except ExportFailed as exc:
        raise CommandError(str(exc), EXIT_FAILED) from exc
    experiment = candidate.experiment
    written = write_model_folder(candidate, args.out)
    experiments_path = args.out / EXPERIMENTS_FILE
    if experiment is not None:
        experiments_path.write_text(experiment.model_dump_json(indent=2), encoding="utf-8")
        written.append(experiments_path)
    elif experiments_path.exists():
        experiments_path.unlink()  # an earlier search's, not this model's
    result = summary(candidate)
    if experiment is not None:
        result["experiment"] = experiment_summary(experiment)
    if args.json:
        print_json(result)
    else:
        if experiment is not None:
            print(experiment_text(experiment) + "\n")
        print(_human_summary(result, written))
    if not candidate.servable:
        progress(f"not servable: {candidate.parity.reason}")
        return EXIT_FAILED
    return EXIT_OK


def experiment_summary(experiment: Experiment) -> dict[str, Any]:
    """The search's part of `sluice train --json`: the chosen candidate, why, and how many were tried."""
    chosen = experiment.chosen_candidate
    assert chosen is not None
    return {
        **chosen.model_dump(mode="json"),
        "reason": experiment.reason,
        "candidates": len(experiment.candidates),
    }


def summary(candidate: Candidate) -> dict[str, Any]:
    """The machine-readable result printed by `sluice train --json`."""
    evaluation, lineage = candidate.evaluation, candidate.card.lineage
    return {
        "model": candidate.spec.name,
        "version": candidate.version,
        "servable": candidate.servable,
        "metric": candidate.spec.metric.value,
        "metrics": evaluation.metrics,
        "champion_metrics": candidate.champion.metrics if candidate.champion else None,
        "parity": candidate.parity.model_dump(mode="json"),
        "gates": candidate.gates.model_dump(mode="json"),
        "fairness": evaluation.fairness.model_dump(mode="json") if evaluation.fairness else None,
        "importance": {k: v.mean for k, v in evaluation.importance.items()},
        "latency_ms_single_row": evaluation.latency_ms_single_row,
        "model_size_bytes": evaluation.model_size_bytes,
        "model_sha256": lineage.model_sha256,
        "dataset_sha256": lineage.dataset_sha256,
        "spec_sha256": candidate.spec.sha256,
        "rows": {"train": lineage.rows_train, "holdout": lineage.rows_holdout},
    }


def _not_trained(model: str, report: ValidationReport, as_json: bool) -> int:
    if as_json:
        print_json({"model": model, "servable": False, "validation": report.model_dump(mode="json")})
    else:
        print(report.to_text())
    progress("not trained: the data does not match the spec")
    return EXIT_FAILED


def _human_summary(summary: dict[str, Any], written: list[Path]) -> str:
    metrics = ", ".join(f"{k}={v:.4f}" for k, v in summary["metrics"].items() if v is not None)
    parity = summary["parity"]
    gates = summary["gates"]
    lines = [
        f"{summary['model']} version {summary['version']}: {metrics}",
        f"parity: max abs diff {parity['max_abs_diff']:.2e}, label agreement {parity['label_agreement']:.4f}"
        f" → {'passed' if parity['passed'] else 'FAILED'}",
        "gates: passed"
        if gates["passed"]
        else "gates: FAILED "
        + "; ".join(f"{f['gate']} {f['value']} (limit {f['limit']})" for f in gates["failed"]),
        "wrote " + ", ".join(str(p) for p in written),
    ]
    return "\n".join(lines)
