"""Where the stack keeps what it stores in the artifact bucket, and how use cases read it back: specs by
hash, datasets by hash, each model version's folder, each drift check's reports."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sluice.app.ports import Artifacts
from sluice.domain.spec.model_spec import ModelSpec, parse_spec

if TYPE_CHECKING:
    from sluice.domain.data.table import RawTable


def spec_key(model: str, sha256: str) -> str:
    return f"specs/{model}/{sha256}.yaml"


def dataset_prefix(model: str, sha256: str) -> str:
    return f"datasets/{model}/{sha256}/"


def model_prefix(model: str, version: int) -> str:
    return f"models/{model}/{version}/"


REPORT_TIME = "%Y%m%dT%H%M%SZ"  # a drift check's reports are named by when it ran, to the second


def drift_report_key(model: str, moment: datetime) -> str:
    """drift/<model>/<time>: the check's reports are this key plus .json and .html."""
    return f"drift/{model}/{moment:{REPORT_TIME}}"


def load_spec(uri: str, artifacts: Artifacts) -> ModelSpec:
    """The spec stored at `uri`; SpecError if it no longer parses."""
    return parse_spec(artifacts.get_bytes(uri).decode("utf-8"), source=uri)


def load_table(uri: str, artifacts: Artifacts) -> RawTable:
    """The CSV stored at `uri`, read as text columns."""
    # numpy comes with the training layer only: the register and ingest functions never read a table here.
    from sluice.domain.data.table import read_csv

    return read_csv(artifacts.open(uri), name=uri)
