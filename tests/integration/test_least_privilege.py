"""Least privilege, measured on the whole suite's own run. Every local stack the suite deployed (with
IAM enforced per principal) recorded each call its principals made; from that trace:

- each statement of each role's policies proves itself: removing it would have denied at least one call
  the suite made (AccessDenied), so no statement is there for nothing;
- no role is granted an action the suite never used, unless template.yaml says why beside the grant
  (`Metadata: SluiceIam: Unused: {action: why}`).

These run last (marker after_suite): they read what every other test left in the trace, either in the
same session or, as `make test` runs them, in a session of their own after the suite ran on every core
(`pytest -m after_suite`). After only part of the suite they have nothing to judge and say so."""

from __future__ import annotations

import pytest

from sluice.tools.local.iam.report import explanations, read_usage, render, unexplained, unproven
from sluice.tools.local.stack import write_iam_usage_of_open_stacks
from sluice.tools.local.template import load_sam
from tests.conftest import IAM_TRACE, ROOT, WHOLE_SUITE_PASSED, whole_suite_collected

pytestmark = pytest.mark.after_suite


@pytest.fixture
def usages(request: pytest.FixtureRequest):
    if not (whole_suite_collected(request.session) or WHOLE_SUITE_PASSED.exists()):
        pytest.skip("judges the whole suite's IAM trace: run `make test`")
    write_iam_usage_of_open_stacks()
    found = read_usage(IAM_TRACE)
    assert found, f"{IAM_TRACE}: the suite recorded no IAM decision (is local IAM enforced?)"
    print(render(found, explanations(load_sam(ROOT / "template.yaml"))))
    return found


def test_every_statement_of_every_role_proves_itself_on_the_suites_trace(usages) -> None:
    # Given every call the suite's principals made, and each role's statements
    why = explanations(load_sam(ROOT / "template.yaml"))
    # When each statement is removed in turn and the calls are evaluated again
    # Then some call is denied without it (or the template explains why it stays)
    assert unproven(usages, why) == []


def test_no_role_is_granted_an_action_the_suite_never_used_unless_the_template_says_why(usages) -> None:
    why = explanations(load_sam(ROOT / "template.yaml"))
    assert unexplained(usages, why) == []
