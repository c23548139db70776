"""The production alias on the local stack: promotions racing for it, a run that loses the race, and an
operator's rollback, promotion and listing through `sluice models`."""

from __future__ import annotations

import json

import pytest

from sluice.adapters.identity import caller_principal
from sluice.app.ports import CoreDeps
from sluice.app.registry import catalog
from sluice.app.training import steps
from sluice.domain.data.table import to_csv_bytes
from sluice.domain.registry.records import AuditEvent, EventType, RunState, Trigger
from sluice.errors import PromotionConflict
from sluice.tools.cli import main
from sluice.tools.example_data import credit_risk
from tests.integration.conftest import Stack
from tests.integration.scenario import BETTER, FIRST, statuses


def test_two_promotions_racing_on_the_alias_cannot_both_win(stack: Stack) -> None:
    # Given two candidate versions that both read "no production version"
    stack.train("it-race")
    registry = stack.registry
    for run_id in ("a", "b"):
        registry.allocate_version(
            "it-race",
            run_id,
            trigger=Trigger.MANUAL,
            execution_arn=None,
            dataset_sha256="0" * 64,
            dataset_uri="s3://x/y",
            spec_sha256="1" * 64,
        )
    outcomes: dict[int, str] = {}
    records = {v: registry.get_version("it-race", v) for v in (1, 2)}

    def promote(version: int) -> None:
        event = AuditEvent(model="it-race", type=EventType.PROMOTED, id=f"race{version}", to_version=version)
        try:
            registry.promote(records[version], expected=None, event=event)
            outcomes[version] = "won"
        except PromotionConflict:
            outcomes[version] = "conflict"

    # When both write the alias expecting it to be empty. (One after the other: moto's DynamoDB does
    # not serialise concurrent transactions as DynamoDB does, so threads would test moto, not Sluice.)
    promote(1)
    promote(2)

    # Then exactly one won; the alias, the version items and the audit trail agree on it
    assert sorted(outcomes.values()) == ["conflict", "won"]
    winner = next(v for v, o in outcomes.items() if o == "won")
    assert registry.get_alias("it-race").version == winner  # type: ignore[union-attr]
    assert [v for v, s in statuses(stack, "it-race").items() if s == "production"] == [winner]
    promoted = [e for e in registry.list_events("it-race") if e.type is EventType.PROMOTED]
    assert [e.to_version for e in promoted] == [winner]


def test_two_executions_racing_end_with_one_production_version_and_a_consistent_audit(stack: Stack) -> None:
    # Given a spec and no production version
    stack.train("it-race2")

    # When two datasets arrive together and both runs compete for production
    stack.upload("it-race2/data/one.csv", FIRST[1])
    stack.upload("it-race2/data/two.csv", BETTER[1])
    executions = [e for e in stack.settle() if e["name"].startswith("it-race2-")]

    # Then both runs finished, exactly one version is in production, and the promotion events form a
    # chain (each one starts where the previous ended) that ends at the alias
    assert sorted(e["status"] for e in executions) == ["SUCCEEDED", "SUCCEEDED"]
    alias = stack.registry.get_alias("it-race2")
    assert alias is not None
    found = statuses(stack, "it-race2")
    assert [v for v, s in found.items() if s == "production"] == [alias.version]
    assert set(found.values()) <= {"production", "archived", "rejected", "candidate"}
    promoted = [e for e in stack.registry.list_events("it-race2") if e.type is EventType.PROMOTED]
    chain = [None] + [e.to_version for e in promoted]
    assert [e.from_version for e in promoted] == chain[:-1]
    assert chain[-1] == alias.version


def test_a_run_that_loses_the_promotion_race_is_evaluated_again_against_the_winner(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given versions 1 and 2 (2 in production), and a rollback to 1 that lands while run 3 is promoting
    stack.train("it-loop", FIRST, BETTER)
    real_promote = steps.promote
    calls: list[int | None] = []

    def promote_after_a_rollback(run: RunState, execution_arn: str, deps: CoreDeps):
        calls.append(run.champion_version)
        if len(calls) == 1:
            catalog.rollback(
                deps.registry, deps.artifacts, "it-loop", by=caller_principal(), reason="operator"
            )
        return real_promote(run, execution_arn, deps)

    monkeypatch.setattr(steps, "promote", promote_after_a_rollback)

    # When a third dataset arrives
    stack.upload("it-loop/data/third.csv", to_csv_bytes(credit_risk(rows=1500, seed=10)))
    stack.settle()

    # Then its first promotion expected version 2 and lost; it was evaluated again against version 1
    # and promoted over it; the audit trail records every move in order
    assert calls == [2, 1]
    assert statuses(stack, "it-loop") == {1: "archived", 2: "archived", 3: "production"}
    assert stack.registry.get_version("it-loop", 3).champion_version == 1
    moves = [
        (e.type.value, e.from_version, e.to_version)
        for e in stack.registry.list_events("it-loop")
        if e.type in (EventType.PROMOTED, EventType.ROLLED_BACK)
    ]
    assert moves == [("promoted", None, 1), ("promoted", 1, 2), ("rolled_back", 2, 1), ("promoted", 1, 3)]


def test_rollback_puts_the_previous_version_back_with_an_audit_event(stack: Stack, tmp_path, capsys) -> None:
    # Given versions 1 and 2, with 2 in production, and the stack's outputs in a file
    stack.train("it-rollback", FIRST, BETTER)
    assert stack.registry.get_alias("it-rollback").version == 2  # type: ignore[union-attr]
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"outputs": stack.outputs}))
    capsys.readouterr()

    # When `sluice models rollback` runs
    code = main(["models", "--stack-outputs", str(outputs), "rollback", "it-rollback", "--json"])

    # Then version 1 is back in production, 2 is archived, and the audit trail says so
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["type"], printed["from_version"], printed["to_version"]) == ("rolled_back", 2, 1)
    assert statuses(stack, "it-rollback") == {1: "production", 2: "archived"}
    main(["models", "--stack-outputs", str(outputs), "show", "it-rollback", "--json"])
    shown = json.loads(capsys.readouterr().out)
    assert shown["model"] == "it-rollback"
    assert shown["production"]["version"] == 1
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    assert {"version", "status", "metrics", "dataset_sha256", "trigger"} <= set(shown["versions"][0])
    assert shown["events"][-1]["type"] == "rolled_back"
    assert all({"type", "time"} <= set(e) for e in shown["events"])
    # and it was done by the principal STS answers for the CLI's credentials
    principal = caller_principal().arn
    assert (printed["by"], printed["note"]) == (principal, None)
    assert (shown["events"][-1]["by"], shown["events"][-1]["note"]) == (principal, None)

    # And promoting version 2 again goes through the same conditional write, with the note recorded
    promote = ["promote", "it-rollback", "2", "--note", "INC-9: v1 was a mistake", "--json"]
    assert main(["models", "--stack-outputs", str(outputs), *promote]) == 0
    assert statuses(stack, "it-rollback") == {1: "archived", 2: "production"}
    promoted = stack.registry.list_events("it-rollback")[-1]
    assert (promoted.type, promoted.by, promoted.note) == (
        EventType.PROMOTED,
        principal,
        "INC-9: v1 was a mistake",
    )


def test_rollback_refuses_a_version_whose_model_file_was_tampered_with(
    stack: Stack, tmp_path, capsys
) -> None:
    # Given versions 1 and 2, and version 1's model file overwritten in S3
    stack.train("it-tamper", FIRST, BETTER)
    model_uri = stack.registry.get_version("it-tamper", 1).artifacts["model"].uri
    bucket, key = model_uri.removeprefix("s3://").split("/", 1)
    stack.client("s3").put_object(Bucket=bucket, Key=key, Body=b"not the model")
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(stack.outputs))
    capsys.readouterr()

    # When a rollback is asked for
    code = main(["models", "--stack-outputs", str(outputs), "rollback", "it-tamper"])

    # Then it is refused, naming the hash mismatch, and version 2 stays in production
    assert code == 1
    assert "sha256" in capsys.readouterr().err
    assert stack.registry.get_alias("it-tamper").version == 2  # type: ignore[union-attr]


def test_models_list_shows_each_model_with_its_production_version(stack: Stack, tmp_path, capsys) -> None:
    # Given a trained model
    stack.train("it-list", FIRST)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"outputs": stack.outputs}))
    capsys.readouterr()

    # When the models are listed
    assert main(["models", "--stack-outputs", str(outputs), "list", "--json"]) == 0

    # Then the model appears with version 1 in production, the spec's primary metric first
    listed = {m["model"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    assert listed["it-list"]["production_version"] == 1
    assert listed["it-list"]["versions"] == 1
    assert listed["it-list"]["metric"] == "roc_auc"
    assert next(iter(listed["it-list"]["metrics"])) == "roc_auc"
    others = list(listed["it-list"]["metrics"])[1:]
    assert others == sorted(others) and "accuracy" in others
    # and the table a person reads starts its metrics with it too
    assert main(["models", "--stack-outputs", str(outputs), "list"]) == 0
    (line,) = [row for row in capsys.readouterr().out.splitlines() if row.startswith("it-list ")]
    assert line.split()[3].startswith("roc_auc=")
