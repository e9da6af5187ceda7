"""Target encoding and predictions shared by the boosted and end-to-end estimators."""

import numpy as np
import pytest

from sklearn_resboost import (
    BoostResNetClassifier,
    BoostResNetRegressor,
    ResNetClassifier,
    ResNetRegressor,
)
from sklearn_resboost._targets import ClassifierTargets, RegressorTargets


def test_both_families_share_one_implementation():
    for cls in (BoostResNetClassifier, ResNetClassifier):
        assert cls.predict is ClassifierTargets.predict
        assert cls.decision_function is ClassifierTargets.decision_function
        assert cls._target_tensor is ClassifierTargets._target_tensor
    for cls in (BoostResNetRegressor, ResNetRegressor):
        assert cls.predict is RegressorTargets.predict
        assert cls._head_targets is RegressorTargets._head_targets


def test_labels_from_scores():
    clf = ResNetClassifier()
    clf.classes_ = np.array(["a", "b", "c"])
    np.testing.assert_array_equal(clf._labels(np.array([[0.1, 2.0, -1.0]])), ["b"])
    clf.classes_ = np.array(["no", "yes"])
    np.testing.assert_array_equal(clf._labels(np.array([[-0.5], [0.5], [0.0]])), ["no", "yes", "no"])


def test_class_encoding_and_warm_start_classes():
    clf = BoostResNetClassifier()
    np.testing.assert_array_equal(clf._encode_classes(np.array(["b", "a", "b"])), [1, 0, 1])
    np.testing.assert_array_equal(clf.classes_, ["a", "b"])
    np.testing.assert_array_equal(clf._encode_classes(np.array(["b", "a"]), keep_classes=True), [1, 0])
    with pytest.raises(ValueError, match="not seen in the first fit"):
        clf._encode_classes(np.array(["a", "z"]), keep_classes=True)
    with pytest.raises(ValueError, match="at least 2 classes"):
        ResNetClassifier()._encode_classes(np.array([3, 3]))


def test_regression_outputs():
    reg = BoostResNetRegressor()
    y = reg._encode_outputs(np.arange(6.0))
    assert y.shape == (6, 1) and reg.n_outputs_ == 1
    assert reg._format(np.ones((6, 1))).shape == (6,)
    with pytest.raises(ValueError, match="2 outputs but the first fit had 1"):
        reg._encode_outputs(np.ones((3, 2)), n_outputs=1)
    with pytest.raises(ValueError, match="NaN or infinity"):
        reg._encode_outputs(np.array([1.0, np.nan]))


@pytest.mark.parametrize(
    "y, shown", [(np.zeros(3), "0.0"), (np.array([3, 3]), "3"), (np.array(["a", "a"]), "'a'")]
)
def test_single_class_messages_show_the_label(y, shown):
    # NumPy 2 writes np.float64(0.0) for repr(); the messages show the label.
    with pytest.raises(ValueError, match=rf"; y has only 1 class: {shown}\.$"):
        ResNetClassifier()._encode_classes(y)
    clf = BoostResNetClassifier()
    clf.classes_ = np.array([y[0], y[0]])
    with pytest.raises(ValueError, match=rf"; only class {shown} has any\.$"):
        clf._check_weighted_target(np.array([1, 1]))
