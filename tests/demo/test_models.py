"""The demo models: deterministic, and different in accuracy and in cost."""

from __future__ import annotations

import csv
import json
import statistics
import time

import numpy as np
import pytest

from stinger.demo.models import (
    N_FEATURES,
    VARIANTS,
    demo_rows,
    train_variants,
    write_demo_dataset,
)
from stinger.errors import DatasetError, UsageError


@pytest.fixture(scope="module")
def models():
    return train_variants()


def test_variants_include_a_cheap_and_a_costly_model():
    assert {"fast", "accurate"} <= set(VARIANTS)


def test_splits_partition_the_digits():
    x_train, _y_train = demo_rows("train")
    x_test, y_test = demo_rows("test")
    x_all, _ = demo_rows("all")
    assert x_train.shape[1] == x_test.shape[1] == N_FEATURES
    assert len(x_train) + len(x_test) == len(x_all) == 1797
    assert len(x_test) == len(y_test) and set(y_test.tolist()) == set(range(10))


def test_demo_rows_are_fixed_and_copied():
    first, labels = demo_rows()
    first[:] = -1
    again, labels_again = demo_rows()
    assert (again >= 0).all()
    assert np.array_equal(labels, labels_again)


def test_unknown_split_is_a_usage_error():
    with pytest.raises(UsageError, match="split"):
        demo_rows("validation")  # type: ignore[arg-type]


def test_accurate_beats_fast_by_a_clear_margin(models):
    x_test, y_test = demo_rows("test")
    accuracy = {
        name: float(np.mean(np.asarray(model.predict(x_test)) == y_test))
        for name, model in models.items()
    }
    assert accuracy["accurate"] > accuracy["fast"] + 0.08
    assert accuracy["accurate"] > 0.95
    assert models["accurate"].test_accuracy == pytest.approx(accuracy["accurate"])


def test_accurate_costs_more_per_row_than_fast(models):
    row = demo_rows("test")[0][:1]
    fast, accurate = models["fast"], models["accurate"]
    for model in (fast, accurate):
        model.predict(row)  # warm up
    costs: dict[str, list[float]] = {"fast": [], "accurate": []}
    # Interleaved, so a noisy neighbour slows both alike; medians resist outliers.
    for _ in range(25):
        for name, model in (("fast", fast), ("accurate", accurate)):
            started = time.perf_counter()
            model.predict(row)
            costs[name].append(time.perf_counter() - started)
    ratio = statistics.median(costs["accurate"]) / statistics.median(costs["fast"])
    assert ratio > 2.0


def test_training_is_deterministic_and_keeps_the_order(models):
    again = train_variants(["accurate", "fast"])
    assert list(again) == ["accurate", "fast"]
    x_test, _ = demo_rows("test")
    for name in again:
        assert again[name].predict(x_test) == models[name].predict(x_test)


def test_predictions_are_plain_ints(models):
    predictions = models["fast"].predict(demo_rows()[0][:3])
    assert len(predictions) == 3 and all(type(p) is int for p in predictions)


@pytest.mark.parametrize("names", [[], ["fast", "fast"], ["fast", "huge"]])
def test_bad_variant_lists_are_usage_errors(names):
    with pytest.raises(UsageError):
        train_variants(names)


def test_jsonl_dataset_holds_request_bodies_with_labels(tmp_path):
    path = write_demo_dataset(tmp_path / "sub" / "digits.jsonl", n=5)
    x_test, y_test = demo_rows("test")
    lines = path.read_text().splitlines()
    assert len(lines) == 5
    for line, row, label in zip(lines, x_test, y_test, strict=False):
        body = json.loads(line)
        assert body["instances"] == [row.tolist()]
        assert body["label"] == int(label)


def test_csv_dataset_holds_features_only(tmp_path):
    path = write_demo_dataset(tmp_path / "digits.csv", fmt="csv", split="train")
    x_train, _ = demo_rows("train")
    rows = list(csv.reader(path.open()))
    assert len(rows) == len(x_train)
    assert all(len(row) == N_FEATURES for row in rows)
    assert np.array_equal(np.asarray(rows[:10], dtype=float), x_train[:10])


@pytest.mark.parametrize("kwargs", [{"fmt": "parquet"}, {"n": 0}])
def test_bad_dataset_requests_are_dataset_errors(tmp_path, kwargs):
    with pytest.raises(DatasetError):
        write_demo_dataset(tmp_path / "x", **kwargs)
