"""Generate `algorithm_params.json`: each algorithm's estimator parameters and their value rules, read
from scikit-learn's own `_parameter_constraints`, so a spec can be checked where scikit-learn is not
installed (IngestFunction). Regenerate after upgrading scikit-learn, and commit the result:

    .venv/bin/python -m sluice.tools.algorithm_params --write

A test regenerates it and compares with the checked-in file. Rules, one list of alternatives per
parameter (a value is valid when it satisfies one of them):
  {"type": "integer" | "number" | "float", "min"?, "max"?, "closed": "both|left|right|neither"}
  {"type": "string", "options": [...]}   {"type": "boolean"}   {"type": "null"}
  {"type": "array"}   {"type": "object"}   {"type": "unsupported", "what": "..."} (not expressible in YAML)
"""

from __future__ import annotations

import argparse
import json
import numbers
import sys
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).parents[1] / "domain" / "spec" / "algorithm_params.json"
COMMAND = ".venv/bin/python -m sluice.tools.algorithm_params --write"
RANDOM_STATE_MAX = 2**32 - 1


def _interval(constraint: Any) -> dict[str, Any]:
    kind = {"Integral": "integer", "Real": "number", "RealNotInt": "float"}[constraint.type.__name__]
    rule: dict[str, Any] = {"type": kind, "closed": constraint.closed}
    if constraint.left is not None:
        rule["min"] = constraint.left
    if constraint.right is not None:
        rule["max"] = constraint.right
    return rule


def _rules(constraint: Any) -> list[dict[str, Any]]:
    """One scikit-learn constraint as Sluice's rules (some constraints are several alternatives)."""
    from sklearn.utils._param_validation import HasMethods, Hidden, Interval, Options, StrOptions

    if isinstance(constraint, Hidden):
        return _rules(constraint.constraint)
    if constraint is None:
        return [{"type": "null"}]
    if isinstance(constraint, Interval):
        return [_interval(constraint)]
    if isinstance(constraint, StrOptions):
        return [{"type": "string", "options": sorted(constraint.options)}]
    if isinstance(constraint, Options):
        return [{"type": "string", "options": sorted(str(o) for o in constraint.options)}]
    if constraint == "boolean":
        return [{"type": "boolean"}]
    if constraint == "verbose":
        return [{"type": "integer", "min": 0, "closed": "left"}, {"type": "boolean"}]
    if constraint == "random_state":
        return [{"type": "integer", "min": 0, "max": RANDOM_STATE_MAX, "closed": "both"}, {"type": "null"}]
    if constraint == "array-like" or constraint is list:
        return [{"type": "array"}]
    if constraint is dict:
        return [{"type": "object"}]
    if constraint is numbers.Integral or constraint is int:
        return [{"type": "integer", "closed": "neither"}]
    if constraint is numbers.Real or constraint is float:
        return [{"type": "number", "closed": "neither"}]
    if constraint is str:
        return [{"type": "string"}]
    if constraint is bool:
        return [{"type": "boolean"}]
    if isinstance(constraint, HasMethods):
        return [{"type": "unsupported", "what": f"an object with {', '.join(constraint.methods)}"}]
    if constraint is callable:
        return [{"type": "unsupported", "what": "a callable"}]
    name = getattr(constraint, "__name__", None) or type(constraint).__name__
    return [{"type": "unsupported", "what": str(name)}]


def generate() -> dict[str, Any]:
    """The data file's content, from the installed scikit-learn (needs it, unlike the check)."""
    import sklearn

    from sluice.domain.training.pipeline import ESTIMATORS

    algorithms: dict[str, dict[str, Any]] = {}
    for (algorithm, classifier), cls in sorted(ESTIMATORS.items(), key=lambda i: (i[0][0].value, i[0][1])):
        params = {
            name: [rule for constraint in constraints for rule in _rules(constraint)]
            for name, constraints in sorted(cls._parameter_constraints.items())
        }
        algorithms.setdefault(algorithm.value, {})["classifier" if classifier else "regressor"] = {
            "estimator": f"{cls.__module__.split('.')[0]}.{cls.__module__.split('.')[1]}.{cls.__name__}",
            "params": params,
        }
    return {
        "about": "estimator parameters and value rules, from scikit-learn's _parameter_constraints",
        "generated_by": COMMAND,
        "scikit_learn": sklearn.__version__,
        "algorithms": algorithms,
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sluice.tools.algorithm_params", description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"write {DATA_FILE.name} (default: print)")
    args = parser.parse_args(argv)
    text = render(generate())
    if args.write:
        DATA_FILE.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
