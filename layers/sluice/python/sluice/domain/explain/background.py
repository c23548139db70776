"""The background sample stored with each version (`background.csv.gz` beside `reference.csv.gz`): what
an explanation compares an instance with. Its rows are training rows chosen as the medoids of a seeded
k-means over a seeded sample of the training set, each weighted by the share of the sample its cluster
holds, so a few rows stand for the whole training distribution.

Why few: an exact explanation costs about 2^d × |background| model rows (fewer where the instance and a
background row agree on a feature), and DESIGN.md's budget is one explanation of the 7-feature
credit-risk example within 20× of predicting it. numpy only, so two processes choose the same rows."""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sluice.domain.data.features import Feed, feed_from_table
from sluice.domain.data.table import RawTable, numeric_column, read_csv, to_csv_bytes
from sluice.domain.spec.model_spec import ModelSpec

BACKGROUND_FILE = "background.csv.gz"  # beside model.onnx and reference.csv.gz
BACKGROUND_ARTIFACT = "background"  # its key in a version's artifacts
BACKGROUND_ROWS = 16  # medoids kept (docs/guides/explanations.md: measured against the explain budget)
SAMPLE_ROWS = 2_000  # training rows clustered
BACKGROUND_SEED = 7
KMEANS_ITERATIONS = 25
WEIGHT_COLUMN = "_weight"


@dataclass(frozen=True)
class Background:
    """Background rows as the model's feed ([k, 1] per input), their weights (summing to 1) and the name
    of the model's target (the one column that is neither a feature nor the weight)."""

    feed: Feed
    weights: npt.NDArray[np.float64]
    target: str

    @property
    def rows(self) -> int:
        return int(self.weights.shape[0])


def _encoded(spec: ModelSpec, table: RawTable) -> npt.NDArray[np.float64]:
    """Rows as numbers for clustering: numeric features standardised (a missing value at the mean, plus
    a missing flag), categorical ones one-hot scaled by 1/√2 (two differing categories weigh one unit)."""
    parts: list[npt.NDArray[np.float64]] = []
    for feature in spec.features:
        cells = table.columns[feature.name]
        if feature.type == "numeric":
            values = numeric_column(cells).astype(np.float64)
            missing = np.isnan(values)
            present = values[~missing]
            mean = float(present.mean()) if present.size else 0.0
            std = float(present.std()) if present.size else 0.0
            filled = np.where(missing, mean, values)
            parts.append(((filled - mean) / (std or 1.0))[:, None])
            if missing.any():
                parts.append(missing.astype(np.float64)[:, None])
        else:
            column = np.asarray(cells, dtype=object)
            levels = sorted(set(cells))
            parts.append(
                np.stack([column == level for level in levels], axis=1).astype(np.float64) / np.sqrt(2)
            )
    return np.concatenate(parts, axis=1)


def _kmeans(points: npt.NDArray[np.float64], k: int, rng: np.random.Generator) -> npt.NDArray[np.intp]:
    """Cluster labels of a seeded k-means (k-means++ start, Lloyd's iterations)."""
    centers = [points[rng.integers(len(points))]]
    for _ in range(1, k):
        distances = np.min(((points[:, None, :] - np.asarray(centers)[None]) ** 2).sum(-1), axis=1)
        total = distances.sum()
        choice = rng.integers(len(points)) if total <= 0 else rng.choice(len(points), p=distances / total)
        centers.append(points[choice])
    center_array = np.asarray(centers)
    labels = np.zeros(len(points), dtype=np.intp)
    for _ in range(KMEANS_ITERATIONS):
        labels = ((points[:, None, :] - center_array[None]) ** 2).sum(-1).argmin(axis=1)
        moved = np.array(
            [points[labels == c].mean(axis=0) if (labels == c).any() else center_array[c] for c in range(k)]
        )
        if np.allclose(moved, center_array):
            break
        center_array = moved
    return labels


def background_sample(spec: ModelSpec, table: RawTable, rows: int = BACKGROUND_ROWS) -> bytes:
    """The background of a model trained on `table`, as gzip CSV: the features, the target and
    `_weight`. Seeded and written without a timestamp: the same table gives the same bytes."""
    rng = np.random.default_rng(BACKGROUND_SEED)
    picked = np.arange(table.n_rows)
    if table.n_rows > SAMPLE_ROWS:
        picked = np.sort(rng.choice(table.n_rows, size=SAMPLE_ROWS, replace=False))
    columns = [*spec.feature_names, spec.target]
    sample = table.select(picked)
    k = min(rows, sample.n_rows)
    points = _encoded(spec, sample)
    labels = _kmeans(points, k, rng)
    chosen: list[int] = []
    weights: list[int] = []
    for cluster in range(k):
        members = np.flatnonzero(labels == cluster)
        if members.size == 0:
            continue
        center = points[members].mean(axis=0)
        chosen.append(int(members[((points[members] - center) ** 2).sum(-1).argmin()]))
        weights.append(int(members.size))
    medoids = sample.select(chosen)
    total = sum(weights)
    out = RawTable(
        source=table.source,
        header=[*columns, WEIGHT_COLUMN],
        columns={c: medoids.columns[c] for c in columns}
        | {WEIGHT_COLUMN: [f"{w / total:.17g}" for w in weights]},
    )
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as archive:
        archive.write(to_csv_bytes(out))
    return buffer.getvalue()


def read_background(data: bytes, inputs: dict[str, str], source: str = BACKGROUND_FILE) -> Background:
    """A stored background as the feed of a model with `inputs` ({name: onnx type}). Raises KeyError
    naming an input the file lacks."""
    table = read_csv(io.BytesIO(gzip.decompress(data)), source)
    weights = numeric_column(table.columns[WEIGHT_COLUMN]).astype(np.float64)
    others = [c for c in table.header if c not in inputs and c != WEIGHT_COLUMN]
    return Background(
        feed=feed_from_table(inputs, table),
        weights=weights / weights.sum(),
        target=others[0] if others else "the prediction",
    )
