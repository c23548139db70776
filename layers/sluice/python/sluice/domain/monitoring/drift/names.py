"""The drift methods' names and the column kinds, apart from the methods themselves so that a caller
that only names them (the `sluice drift` parser) does not import numpy and scipy."""

from __future__ import annotations

from typing import Literal, get_args

MethodName = Literal["ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi"]
METHOD_NAMES: tuple[MethodName, ...] = get_args(MethodName)
ColumnKind = Literal["numerical", "categorical"]
