"""The demo's models and the dataset they are trained and tested on.

This module owns the scikit-learn models behind ``stinger serve-demo`` and the
demo dataset files stinger's own demo and tests send to it. Everything is
deterministic: scikit-learn's bundled handwritten-digits dataset (1,797 rows of
8x8 images, 64 features valued 0..16, labels 0..9; nothing is downloaded), one
fixed, stratified train/test split and fixed seeds, so every process that trains
a variant gets the same model and the same predictions.

The variants differ on purpose in both compute cost and accuracy, so that an
A/B test and a capacity search against the demo have something real to find:

    fast      Gaussian naive Bayes: ~0.2 ms a row, 83.6 % accurate
    linear    standardised logistic regression: ~0.25 ms a row, 96.9 % accurate
    accurate  a 150-tree random forest (n_jobs=1): ~6-10 ms a row, 98.2 % accurate

(Times from a shared 2-core machine; only their ratios matter.) Training all
three takes under a second there.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from stinger.errors import DatasetError, SpecError

SEED = 0
TEST_FRACTION = 0.25
N_FEATURES = 64

Split = Literal["train", "test", "all"]


@dataclass(frozen=True, slots=True)
class Model:
    """One trained variant: its name, estimator and test-split accuracy."""

    name: str
    description: str
    estimator: Any
    test_accuracy: float
    n_features: int = N_FEATURES

    def predict(self, rows: np.ndarray) -> list[int]:
        """Class labels for ``rows`` (shape ``(n, n_features)``), as plain ints."""
        return [int(label) for label in self.estimator.predict(rows)]


def _fast() -> Any:
    from sklearn.naive_bayes import GaussianNB

    return GaussianNB()


def _linear() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # Scaling first lets lbfgs converge quickly and silently.
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def _accurate() -> Any:
    from sklearn.ensemble import RandomForestClassifier

    # n_jobs=1: one request keeps one core busy, so a worker's capacity is about
    # 1 / predict time and adding workers scales it, as in a real CPU endpoint.
    # 150 trees makes a single-row predict cost a few milliseconds.
    return RandomForestClassifier(n_estimators=150, random_state=SEED, n_jobs=1)


_FACTORIES: dict[str, tuple[str, Callable[[], Any]]] = {
    "fast": ("Gaussian naive Bayes (cheap, weaker)", _fast),
    "linear": ("standardised logistic regression (cheap, good)", _linear),
    "accurate": ("150-tree random forest (costly, best)", _accurate),
}

VARIANTS: tuple[str, ...] = tuple(_FACTORIES)


@cache
def _splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    features, labels = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=TEST_FRACTION, random_state=SEED, stratify=labels
    )
    return {
        "train": (x_train, y_train),
        "test": (x_test, y_test),
        "all": (features, labels),
    }


def demo_rows(split: Split = "test") -> tuple[np.ndarray, np.ndarray]:
    """Features ``X`` (float64, shape ``(n, 64)``) and labels ``y`` of a split.

    The arrays are copies, so callers may modify them freely.
    """
    splits = _splits()
    if split not in splits:
        raise SpecError(f"split must be one of {', '.join(splits)}; got {split!r}")
    features, labels = splits[split]
    return features.copy(), labels.copy()


def check_variants(names: Iterable[str]) -> tuple[str, ...]:
    """The names, validated: known, not repeated, at least one."""
    chosen = tuple(names)
    if not chosen:
        raise SpecError("variants must name at least one variant")
    unknown = [name for name in chosen if name not in _FACTORIES]
    if unknown:
        raise SpecError(
            f"unknown variant {unknown[0]!r}; expected one of {', '.join(VARIANTS)}"
        )
    if len(set(chosen)) != len(chosen):
        raise SpecError(f"variants repeat a name: {', '.join(chosen)}")
    return chosen


def train_variants(names: Iterable[str] | None = None) -> dict[str, Model]:
    """Train the named variants (all by default) on the fixed training split.

    The result keeps the order of ``names``: the first is the default variant.
    """
    chosen = check_variants(VARIANTS if names is None else names)
    x_train, y_train = _splits()["train"]
    x_test, y_test = _splits()["test"]
    models: dict[str, Model] = {}
    for name in chosen:
        description, factory = _FACTORIES[name]
        estimator = factory()
        estimator.fit(x_train, y_train)
        accuracy = float(np.mean(estimator.predict(x_test) == y_test))
        models[name] = Model(name, description, estimator, accuracy)
    return models


def write_demo_dataset(
    path: str | Path,
    *,
    n: int | None = None,
    fmt: Literal["jsonl", "csv"] = "jsonl",
    split: Split = "test",
) -> Path:
    """Write the first ``n`` rows (all by default) of a split as a request dataset.

    ``jsonl``: one request body a line, ``{"instances": [[64 floats]], "label": y}``.
    The ``label`` field is for stinger's model-quality check; the demo server
    ignores fields it does not know.

    ``csv``: the features only, one row a line, as SageMaker's ``text/csv``
    content type expects. A CSV dataset carries **no labels**, so a run with it
    measures latency and throughput but cannot judge accuracy.
    """
    if fmt not in ("jsonl", "csv"):
        raise DatasetError(f"fmt must be 'jsonl' or 'csv'; got {fmt!r}")
    if n is not None and n < 1:
        raise DatasetError(f"n must be a positive number of rows; got {n}")
    features, labels = demo_rows(split)
    if n is not None:
        features, labels = features[:n], labels[:n]
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8", newline="") as out:
        if fmt == "jsonl":
            for row, label in zip(features.tolist(), labels.tolist(), strict=True):
                out.write(json.dumps({"instances": [row], "label": int(label)}) + "\n")
        else:
            csv.writer(out, lineterminator="\n").writerows(features.tolist())
    return target
