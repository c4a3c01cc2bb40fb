import numpy as np
import pytest

from wastesort_trainer.metrics import (
    auroc,
    classification_report,
    confusion_matrix,
    precision_normalised,
    recall_normalised,
)


def test_confusion_matrix_rows_are_true_columns_are_predicted():
    # true 0 predicted as 1 twice; true 1 always right
    cm = confusion_matrix([0, 0, 0, 1, 1], [0, 1, 1, 1, 1], 2)
    assert cm.tolist() == [[1, 2], [0, 2]]


def test_precision_recall_orientation_against_hand_computed():
    cm = np.array([[8, 2, 0],
                   [1, 6, 3],
                   [0, 0, 5]])
    rep = classification_report(cm, ["a", "b", "c"])
    # recall: row-normalised diagonal; precision: column-normalised diagonal
    assert rep["per_class"]["a"]["recall"] == pytest.approx(8 / 10)
    assert rep["per_class"]["b"]["recall"] == pytest.approx(6 / 10)
    assert rep["per_class"]["c"]["recall"] == pytest.approx(5 / 5)
    assert rep["per_class"]["a"]["precision"] == pytest.approx(8 / 9)
    assert rep["per_class"]["b"]["precision"] == pytest.approx(6 / 8)
    assert rep["per_class"]["c"]["precision"] == pytest.approx(5 / 8)
    f1_b = 2 * (6 / 8) * (6 / 10) / ((6 / 8) + (6 / 10))
    assert rep["per_class"]["b"]["f1"] == pytest.approx(f1_b)
    assert rep["accuracy"] == pytest.approx(19 / 25)
    assert rep["min_recall"] == pytest.approx(0.6)
    assert rep["min_precision"] == pytest.approx(5 / 8)
    assert rep["per_class"]["b"]["support"] == 10
    np.testing.assert_allclose(recall_normalised(cm).sum(axis=1), 1.0)
    np.testing.assert_allclose(precision_normalised(cm).sum(axis=0), 1.0)
    assert recall_normalised(cm)[1, 2] == pytest.approx(0.3)
    assert precision_normalised(cm)[1, 2] == pytest.approx(3 / 8)


def test_class_never_predicted_has_zero_precision_not_nan():
    rep = classification_report(np.array([[3, 0], [2, 0]]), ["x", "y"])
    assert rep["per_class"]["y"]["precision"] == 0.0
    assert rep["per_class"]["y"]["f1"] == 0.0


def test_auroc_known_values():
    assert auroc([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == 1.0
    assert auroc([0.9, 0.8, 0.2, 0.1], [False, False, True, True]) == 0.0
    assert auroc([0.5, 0.5], [True, False]) == 0.5
    # one inversion out of four pairs
    assert auroc([0.1, 0.6, 0.5, 0.9], [False, False, True, True]) == pytest.approx(0.75)
