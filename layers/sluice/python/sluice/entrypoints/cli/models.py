"""`sluice models list|show|promote|rollback|train|approve|reject`: the registry of a deployed or local
stack. `approve` and `reject` answer a version a manual rollout holds as pending_approval; they need
states:SendTaskSuccess / states:SendTaskFailure on the TrainAndPromote state machine. `reject` on a
shadow or canary version ends its live rollout at once (its run's next check rejects it).

Every action (promote, rollback, train, approve, reject) is recorded in the audit event as `by`: the
principal ARN STS GetCallerIdentity answers for the caller's credentials, asked before anything changes;
when STS cannot answer, the action is refused. `--note TEXT` is stored beside it. There is no way to
name someone else: `--by` is refused. The template's SluiceOperatorPolicy grants exactly what these
actions call; SluiceViewerPolicy what `list` and `show` read.

The stack is found from `--stack-outputs FILE` (the ready document of `sluice local up`, or a flat
{"RegistryTableName": …, "ArtifactBucketName": …}), else `--stack-name` through CloudFormation, else a
running `sluice local up` (.sluice/local.json). AWS_ENDPOINT_URL is honoured as boto3 does."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from sluice.app.registry.catalog import ordered_metrics
from sluice.entrypoints.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    STATE_FILE,
    CommandError,
    cloudformation_outputs,
    print_json,
)
from sluice.errors import ModelNotFound, SluiceError

if TYPE_CHECKING:
    from sluice.app.ports import StackDeps
    from sluice.domain.registry.records import Principal

BY_REMOVED = (
    "--by was removed: the audit event records who you are as the AWS principal of your credentials "
    "(STS GetCallerIdentity), not a name; put a name, a ticket or on whose behalf in --note TEXT"
)


class _RemovedBy(argparse.Action):
    """`--by` fails with a message that says what to use instead (it used to name the approver)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> NoReturn:
        parser.error(BY_REMOVED)


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that find the stack a command reads (see `stack_deps_of`)."""
    parser.add_argument(
        "--stack-outputs", type=Path, help="JSON with the stack Outputs (see `sluice local up`)"
    )
    parser.add_argument("--stack-name", help="read the Outputs of this CloudFormation stack")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("models", help="list, inspect, promote and roll back model versions")
    add_stack_arguments(parser)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every model with its production version")
    listing.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="versions, metrics, lineage and audit events of a model")
    show.add_argument("model")
    show.add_argument("--json", action="store_true")
    promote = actions.add_parser("promote", help="put a candidate or archived version in production")
    promote.add_argument("model")
    promote.add_argument("version", type=int)
    promote.add_argument("--reason", help="recorded in the audit event")
    promote.add_argument("--json", action="store_true")
    rollback = actions.add_parser("rollback", help="back to the previous production version")
    rollback.add_argument("model")
    rollback.add_argument("--reason", help="recorded in the audit event")
    rollback.add_argument("--json", action="store_true")
    train = actions.add_parser(
        "train", help="start a new training run (trigger manual): current spec, latest accepted dataset"
    )
    train.add_argument("model")
    train.add_argument("--dataset", metavar="SHA256", help="an accepted dataset (default: the latest)")
    train.add_argument("--json", action="store_true")
    approve = actions.add_parser("approve", help="let a pending_approval version go to production")
    reject = actions.add_parser(
        "reject", help="reject a pending_approval version, or stop a shadow or canary version's rollout"
    )
    for answer in (approve, reject):
        answer.add_argument("model")
        answer.add_argument("version", type=int)
        answer.add_argument("--json", action="store_true")
    approve.add_argument("--reason", help="recorded in the audit event")
    reject.add_argument("--reason", required=True, help="why; the version's recorded reason names it")
    for action in (promote, rollback, train, approve, reject):
        action.add_argument(
            "--note",
            metavar="TEXT",
            help="free text stored in the audit event beside `by` (your AWS principal, from STS)",
        )
        action.add_argument("--by", action=_RemovedBy, help=argparse.SUPPRESS)
    for sub in (listing, show, promote, rollback, train, approve, reject):
        sub.set_defaults(func=run)


def caller() -> Principal:
    """Who runs the action: the principal STS GetCallerIdentity answers for the caller's credentials.
    Stops the command (exit code 2) when STS cannot answer: nothing is changed without an identity."""
    from sluice.adapters.identity import caller_principal
    from sluice.errors import IdentityUnavailable

    try:
        return caller_principal()
    except IdentityUnavailable as exc:
        raise CommandError(str(exc)) from exc


def stack_outputs(args: argparse.Namespace) -> dict[str, str]:
    """The stack's Outputs; may set AWS_ENDPOINT_URL from a local stack's ready document."""
    path: Path | None = args.stack_outputs
    if path is None and args.stack_name:
        return cloudformation_outputs(args.stack_name)
    if path is None:
        path = STATE_FILE
        if not path.is_file():
            raise CommandError(
                "no stack: pass --stack-outputs FILE or --stack-name NAME, or run `sluice local up`"
            )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CommandError(f"{path}: cannot read stack outputs ({exc})") from exc
    if not isinstance(document, dict):
        raise CommandError(f"{path}: expected a JSON object")
    if document.get("endpoint_url") and "AWS_ENDPOINT_URL" not in os.environ:
        os.environ["AWS_ENDPOINT_URL"] = str(document["endpoint_url"])  # the CLI's own process only
    outputs = document.get("outputs", document)
    return {str(k): str(v) for k, v in outputs.items()}


def stack_deps_of(args: argparse.Namespace) -> StackDeps:
    """The deps of the stack `add_stack_arguments` options name (or the running `sluice local up`)."""
    from sluice.entrypoints.wiring import stack_deps

    outputs = stack_outputs(args)
    try:
        return stack_deps(outputs)
    except KeyError as exc:
        raise CommandError(f"the stack outputs have no {exc.args[0]}") from exc


def run(args: argparse.Namespace) -> int:
    from sluice.app.registry import catalog
    from sluice.app.registry.dashboard import refresh_dashboard

    deps = stack_deps_of(args)  # first: a local stack's document sets AWS_ENDPOINT_URL
    registry, artifacts = deps.registry, deps.artifacts
    try:
        if args.action == "list":
            models = catalog.list_models(registry, artifacts)
            if args.json:
                print_json({"models": [m.model_dump(mode="json") for m in models]})
            else:
                _print_list(models)
            return EXIT_OK
        if args.action == "show":
            detail = catalog.show_model(registry, args.model, artifacts)
            if args.json:
                print_json(detail.model_dump(mode="json"))
            else:
                _print_detail(detail)
            return EXIT_OK
        # Every other action changes the model: who does it is asked of STS before anything changes.
        by = caller()
        if args.action == "train":
            return _train(args, deps, by)
        if args.action in ("approve", "reject"):
            return _answer(args, deps, by)
        if args.action == "promote":
            event = catalog.promote_version(
                registry, artifacts, args.model, args.version, by=by, reason=args.reason, note=args.note
            )
        else:
            event = catalog.rollback(
                registry, artifacts, args.model, by=by, reason=args.reason, note=args.note
            )
    except ModelNotFound as exc:
        raise CommandError(str(exc), exit_code=EXIT_FAILED) from exc
    except SluiceError as exc:
        raise CommandError(str(exc), exit_code=EXIT_FAILED) from exc
    refresh_dashboard(deps, args.model)  # never raises: the promotion stands
    if args.json:
        print_json(event.model_dump(mode="json"))
    else:
        print(
            f"{event.model}: production is now version {event.to_version} (was {event.from_version}); "
            f"by {event.by}"
        )
    return EXIT_OK


def _train(args: argparse.Namespace, deps: StackDeps, by: Principal) -> int:
    from sluice.app.training.start import start_manual_run

    started = start_manual_run(args.model, deps, args.dataset, by=by, note=args.note)
    if args.json:
        print_json(
            {"model": args.model, "trigger": "manual", "by": by.arn, "note": args.note}
            | started.model_dump(mode="json")
        )
    else:
        print(f"{args.model}: started run {started.name} (by {by})")
    return EXIT_OK


def _answer(args: argparse.Namespace, deps: StackDeps, by: Principal) -> int:
    from sluice.app.registry.dashboard import refresh_dashboard
    from sluice.app.rollout import plan as rollout

    if args.action == "approve":
        event = rollout.approve(deps, args.model, args.version, by=by, reason=args.reason, note=args.note)
    else:
        event = rollout.refuse(deps, args.model, args.version, by=by, reason=args.reason, note=args.note)
    refresh_dashboard(deps, args.model)  # never raises: the answer stands
    if args.json:
        print_json(event.model_dump(mode="json"))
    else:
        print(f"{args.model} version {args.version}: {event.type.value} by {by}; the run goes on")
        if event.reason and event.reason.startswith("rolled back"):
            print("its rollout has stopped: requests go to production; the run rejects it at its next check")
    return EXIT_OK


def _metrics_text(metrics: dict[str, float | None]) -> str:
    """`name=value` pairs in the given order (the primary metric first)."""
    return ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if v is not None)


def _print_list(models: list[Any]) -> None:
    if not models:
        print("no models")
        return
    print(f"{'MODEL':<30} {'PRODUCTION':>10} {'VERSIONS':>8}  METRICS (primary first)")
    for m in models:
        production = "-" if m.production_version is None else str(m.production_version)
        print(f"{m.model:<30} {production:>10} {m.versions:>8}  {_metrics_text(m.metrics)}")


def _print_detail(detail: Any) -> None:
    out = sys.stdout
    production = detail.production["version"] if detail.production else None
    out.write(f"{detail.model}: production version {production if production is not None else '-'}\n")
    rollout = detail.rollout
    if rollout and rollout.get("weight") is not None:
        out.write(
            f"rollout: {rollout['mode']} of version {rollout['version']} on {rollout['weight']:.0%} of requests, "
            f"{rollout['status']}, {rollout['requests']} requests ({rollout['errors']} errors) so far"
            + (f"; {rollout['reason']}" if rollout.get("reason") else "")
            + "\n"
        )
    elif rollout:
        out.write(f"rollout: version {rollout['version']} waits for approval\n")
    for incident in detail.incidents:
        out.write(f"open incident: {incident['words']}\n")
    out.write("\n")
    out.write(
        f"{'VERSION':>7}  {'STATUS':<10} {'TRIGGER':<7} {'ON':<7} {'METRICS':<40} {'DATASET':<12} REASON\n"
    )
    for v in detail.versions:
        metrics = _metrics_text(ordered_metrics(v["metrics"], detail.metric))
        marker = "*" if v["version"] == production else " "
        out.write(
            f"{marker}{v['version']:>6}  {v['status']:<10} {v['trigger']:<7} {v.get('backend') or '-':<7} "
            f"{metrics[:40]:<40} "
            f"{(v.get('dataset_sha256') or '')[:12]:<12} {v.get('reason') or ''}\n"
        )
    out.write("\nEVENTS\n")
    for e in detail.events:
        change = ""
        if e.get("to_version") is not None:
            change = f" {e.get('from_version')} -> {e.get('to_version')}"
        elif e.get("version") is not None:
            change = f" version {e['version']}"
        who = f"  by {e['by']}" if e.get("by") else ""
        who += f" ({e['by_email']})" if e.get("by_email") else ""
        note = f"  note: {e['note']}" if e.get("note") else ""
        out.write(f"  {e['time']}  {e['type']:<18}{change}  {e.get('reason') or ''}{who}{note}\n")
