"""A TrainAndPromote run as the steps a person follows: from the states its execution entered (Step
Functions' history), in plain names. Pure: the app layer reads the execution and its history."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

StepState = Literal["done", "running", "waiting", "failed", "pending"]

VALIDATING = "Validating"
TRAINING = "Training"
PARITY = "Checking parity"
COMPARING = "Comparing with production"
APPROVAL = "Waiting for approval"
PROMOTING = "Promoting"

# Each state of statemachines/train_and_promote.asl.json → the step it belongs to; a live rollout's
# states are "Canary at N%" (or "Shadow at N%"), named by `rollout_step`.
STATE_STEPS = {
    "AllocateVersion": TRAINING,
    "PlanSearch": TRAINING,
    "SearchOrTrain": TRAINING,
    "SearchCandidates": TRAINING,
    "CrossValidate": TRAINING,
    "TrainOn": TRAINING,
    "Train": TRAINING,
    "StageTrainingTask": TRAINING,
    "TrainOnFargate": TRAINING,
    "CollectTrainingTask": TRAINING,
    "ExportAndCheckParity": PARITY,
    "Evaluate": COMPARING,
    "Gate": COMPARING,
    "PlanRollout": COMPARING,
    "RolloutMode": COMPARING,
    "AwaitApproval": APPROVAL,
    "NotApprovedInTime": APPROVAL,
    "StartRollout": "rollout",
    "RolloutDecision": "rollout",
    "WaitForTraffic": "rollout",
    "CheckRollout": "rollout",
    "RegisterAndPromote": PROMOTING,
    "Notify": PROMOTING,
    "Done": PROMOTING,
}
FAILURE_STATES = {"RegisterRejected", "RegisterFailed", "NotifyFailed", "Failed"}
ALWAYS = (VALIDATING, TRAINING, PARITY, COMPARING)  # every run goes through these (validated at ingest)


@dataclass(frozen=True)
class Step:
    name: str
    state: StepState
    detail: str | None = None


def rollout_step(mode: str | None, weight: float | None) -> str:
    """A live rollout's step: "Canary at 10%", "Shadow at 100%"."""
    percent = f" at {round((weight or 0) * 100)}%" if weight is not None else ""
    return f"{'Shadow' if mode == 'shadow' else 'Canary'}{percent}"


def entered_states(history: Iterable[Mapping[str, Any]]) -> list[str]:
    """The names of the states an execution entered, in order, from its history events."""
    names = []
    for event in history:
        details = event.get("stateEnteredEventDetails")
        if isinstance(details, Mapping) and isinstance(details.get("name"), str):
            names.append(str(details["name"]))
    return names


def run_steps(
    entered: list[str],
    status: str,
    *,
    rollout: str = "Canary",
    reason: str | None = None,
) -> list[Step]:
    """The run's steps from the states it `entered` and its execution `status` (RUNNING, SUCCEEDED,
    FAILED, TIMED_OUT, ABORTED): every step it reached is done, but the one it is in (running; waiting
    for a person's approval: waiting) or the one it failed in (failed, with `reason`); those it has not
    reached are pending. Waiting for approval and the rollout (named `rollout`) appear when the run
    reached them; Promoting is listed last unless the run was rejected or failed."""
    steps: list[str] = []
    for state in entered:
        if state in FAILURE_STATES:  # the reject path's Notify is not a promotion
            break
        step = STATE_STEPS.get(state)
        if step == "rollout":
            step = rollout
        if step is not None and step not in steps:
            steps.append(step)
    failed = any(state in FAILURE_STATES for state in entered) or status in ("FAILED", "TIMED_OUT", "ABORTED")
    reached = len(steps)
    names = list(ALWAYS) + [s for s in steps if s not in ALWAYS and s != PROMOTING]
    if not failed or PROMOTING in steps:
        names.append(PROMOTING)
    current = steps[-1] if steps else VALIDATING
    out = []
    for name in names:
        if (
            name == VALIDATING
            or (name in steps and name != current)
            or (name == current and status == "SUCCEEDED" and not failed)
        ):
            out.append(Step(name, "done"))
        elif name == current and failed:
            out.append(Step(name, "failed", reason))
        elif name == current:
            out.append(Step(name, "waiting" if name == APPROVAL else "running"))
        else:
            out.append(Step(name, "pending"))
    if reached == 0 and (status == "RUNNING" or failed):  # started, no state entered yet
        out[1] = Step(TRAINING, "failed", reason) if failed else Step(TRAINING, "running")
    return out
