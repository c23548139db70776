"""An explanation in words: its largest contributions as sentences a person reads ("income 18,000
raised the probability of default by 12 points")."""

from __future__ import annotations

import math
from typing import Any

TOP_SENTENCES = 3
_YES = {"1", "true", "yes", "y"}
_NO = {"0", "false", "no", "n"}


def value_text(value: Any) -> str:
    """An instance's value as a sentence shows it: numbers with thousands separators, null as missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "missing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"{value:,.6g}" if abs(value) < 1e15 else f"{value:.6g}"
    return str(value)


def outcome_text(target: str, explained_class: Any, binary: bool) -> str:
    """What the explained number is: `the probability of default` (a binary model's positive class),
    `the probability of no default` (its negative class), `the probability of species setosa`
    (otherwise), or `the predicted price` (regressors: explained_class is None)."""
    if explained_class is None:
        return f"the predicted {target}"
    text = str(explained_class).lower()
    if binary and text in _YES:
        return f"the probability of {target}"
    if binary and text in _NO:
        return f"the probability of no {target}"
    return f"the probability of {target} {explained_class}"


def _amount(contribution: float, classifier: bool) -> str:
    if classifier:
        points = abs(contribution) * 100
        return f"{points:.2g} point" + ("" if f"{points:.2g}" == "1" else "s")
    return f"{abs(contribution):,.4g}"


def sentences(
    contributions: dict[str, float],
    instance: dict[str, Any],
    outcome: str,
    classifier: bool,
    count: int = TOP_SENTENCES,
) -> list[str]:
    """The `count` largest contributions (by size), largest first, as sentences. A contribution that
    rounds to nothing says so rather than claiming a direction."""
    ranked = sorted(contributions.items(), key=lambda item: -abs(item[1]))[:count]
    said = []
    for name, contribution in ranked:
        subject = f"{name} {value_text(instance.get(name))}"
        amount = _amount(contribution, classifier)
        if float(amount.split()[0].replace(",", "")) == 0:
            said.append(f"{subject} made almost no difference to {outcome}")
            continue
        verb = "raised" if contribution > 0 else "lowered"
        said.append(f"{subject} {verb} {outcome} by {amount}")
    return said
