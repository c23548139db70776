"""The least-privilege report: usage lines of several runs merge (proven if any run proved a statement,
used if any run used an action), and what no run needed is reported unless the template explains it."""

from __future__ import annotations

from sluice.tools.local.iam.report import StatementUsage, explanations, merge, summary, unexplained, unproven


def line(role: str, index: int, actions: list[str], proving: int, used: list[str]) -> str:
    usage = StatementUsage(
        role, f"{role}Policy0", index, actions, ["arn:aws:s3:::b/*"], proving_calls=proving
    )
    usage.used_actions.update(used)
    return usage.line()


def test_runs_merge_and_what_no_run_needed_is_reported_unless_explained() -> None:
    # Given two runs: one proved statement 0 with GetObject, the other used PutObject too; statement 1
    # (DeleteObject) was never needed
    lines = [
        line("TrainFunctionRole", 0, ["s3:GetObject", "s3:PutObject"], 3, ["s3:GetObject"]),
        line("TrainFunctionRole", 0, ["s3:GetObject", "s3:PutObject"], 0, ["s3:PutObject"]),
        line("TrainFunctionRole", 1, ["s3:DeleteObject"], 0, []),
        '{"denied": {"role": "TrainFunctionRole"}}',
    ]
    # When they are merged
    usages = merge(lines)
    # Then statement 0 is proven with both actions used, statement 1 is neither
    assert [(u.index, u.proving_calls, sorted(u.used_actions)) for u in usages] == [
        (0, 3, ["s3:GetObject", "s3:PutObject"]),
        (1, 0, []),
    ]
    assert unproven(usages, {}) == [
        "TrainFunctionRole (TrainFunctionRolePolicy0#1): s3:DeleteObject on arn:aws:s3:::b/*"
    ]
    assert unexplained(usages, {}) == [
        "TrainFunctionRole (TrainFunctionRolePolicy0#1): s3:DeleteObject on arn:aws:s3:::b/*"
    ]
    # And a reason in the template's Metadata (on the function: its role is <Function>Role) explains it
    why = explanations(
        {
            "Resources": {
                "TrainFunction": {
                    "Type": "AWS::Serverless::Function",
                    "Metadata": {"SluiceIam": {"Unused": {"s3:DeleteObject": "cleanup"}}},
                }
            }
        }
    )
    assert unproven(usages, why) == [] and unexplained(usages, why) == []
    assert "s3:DeleteObject (cleanup)" in summary(usages, why)
