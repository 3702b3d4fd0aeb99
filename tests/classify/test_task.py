"""Classification task: inference from the target, the fitted target and its errors, the manifest's task."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from enfo_sdk.bundle.manifest import Task
from enfo_sdk.data.columns import (
    MAX_CLASSES, CategoricalTarget, ColumnTransform, NumericSpec, infer_task, target_classes,
)
from enfo_sdk.errors import DataError


@pytest.mark.parametrize("values, task", [
    (["yes", "no", "yes"], "classification"),
    ([True, False, True], "classification"),
    (pd.Categorical(["a", "b", "a"]), "classification"),
    (np.array([0, 1, 2, 1]), "classification"),
    (np.arange(40), "regression"),          # an integer column with many values
    (np.array([0.0, 1.0, 2.0]), "regression"),  # floats stay regression
    (np.array([0.5, 1.5]), "regression"),
])
def test_infer_task(values, task):
    assert infer_task(pd.Series(values)) == task


def _frame(labels):
    g = np.random.default_rng(0)
    return pd.DataFrame({"x": g.standard_normal(len(labels)), "y": labels})


def test_fit_classes_and_codes():
    df = _frame(["b", "a", "c", "a", "b", "c"])
    ct = ColumnTransform.fit(df, {"x": NumericSpec(type="numeric")}, "y", task="classification")
    assert ct.task == "classification"
    assert isinstance(ct.target, CategoricalTarget) and ct.target.classes == ["a", "b", "c"]
    assert ct.target.column_names == ["y=a", "y=b", "y=c"]
    np.testing.assert_array_equal(ct.target_values(df), [1, 0, 2, 0, 1, 2])
    # the JSON form round-trips (it is signed into the manifest)
    assert ColumnTransform.model_validate_json(ct.model_dump_json()) == ct
    # a regression transform's JSON keeps the v2 form (no type field on the target)
    reg = ColumnTransform.fit(_frame([0.5, 1.5, 2.5]), {"x": NumericSpec(type="numeric")}, "y")
    assert "type" not in reg.model_dump()["target"] and reg.task == "regression"


def test_one_class_is_an_error_naming_the_column():
    with pytest.raises(DataError, match=r"'y' has one class only"):
        target_classes(pd.Series(["a"] * 5), "y", "t.csv")


def test_too_many_classes_names_the_count():
    with pytest.raises(DataError, match=rf"'y' has {MAX_CLASSES + 1} classes, more than the {MAX_CLASSES}"):
        target_classes(pd.Series([f"c{i}" for i in range(MAX_CLASSES + 1)]), "y", "t.csv")


def test_class_absent_from_training_rows_names_it():
    df = _frame(["a", "b", "a", "b"])
    with pytest.raises(DataError, match=r"class 'c' of target column 'y' does not occur in the training rows"):
        ColumnTransform.fit(df, {"x": NumericSpec(type="numeric")}, "y", task="classification",
                            classes=["a", "b", "c"])


def test_unseen_label_names_column_and_label():
    df = _frame(["a", "b", "a", "b"])
    ct = ColumnTransform.fit(df, {"x": NumericSpec(type="numeric")}, "y", task="classification")
    with pytest.raises(DataError, match=r"partner.csv: target column 'y' holds label 'zebra' that the key never saw"):
        ct.target_values(_frame(["a", "zebra"]), where="partner.csv")


def test_manifest_task_forms():
    reg = Task(target="y", features=["x"])
    assert reg.model_dump() == {"target": "y", "features": ["x"]}  # v1/v2 manifests unchanged
    clf = Task(target="y", features=["x"], type="classification", classes=["no", "yes"])
    assert clf.columns == ["x", "y=no", "y=yes"]
    assert Task.model_validate_json(clf.model_dump_json()) == clf
    with pytest.raises(ValueError, match="classes are listed exactly when type is classification"):
        Task(target="y", features=["x"], type="classification")
