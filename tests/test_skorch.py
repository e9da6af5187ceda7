"""Tests of the skorch layer: end-to-end training helpers and to_skorch()."""

import pickle

import numpy as np
import pytest
import torch
from _params import TINY_BOOST, TINY_E2E
from sklearn.datasets import load_iris, make_friedman1
from sklearn.exceptions import NotFittedError
from skorch import NeuralNetClassifier, NeuralNetRegressor
from skorch.callbacks import EpochScoring
from skorch.dataset import Dataset

from sklearn_resboost import (
    BoostResNetClassifier,
    BoostResNetRegressor,
    ResNet,
    ResNetClassifier,
    ResNetRegressor,
)
from sklearn_resboost._skorch import TensorBatches

# An epoch count of its own, told apart from the nets' default (10) and the
# max_epochs the tests pass to to_skorch (2, 3).
E2E = {**TINY_E2E, "max_epochs": 5}


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X.astype(np.float32), y


def _classifiers():
    for loss in ("exponential", "log_loss"):
        for n_classes in (2, 3):
            yield BoostResNetClassifier(**TINY_BOOST, loss=loss), n_classes
            yield ResNetClassifier(**E2E, loss=loss), n_classes


@pytest.mark.parametrize(
    "estimator, n_classes",
    list(_classifiers()),
    ids=lambda v: type(v).__name__ + f"-{v.loss}" if hasattr(v, "loss") else f"{v}classes",
)
def test_classifier_net_matches_estimator(iris, estimator, n_classes):
    X, y = iris
    keep = y < n_classes
    X, y = X[keep], np.array(["a", "b", "c"])[y[keep]]
    estimator.fit(X, y)
    net = estimator.to_skorch()
    assert isinstance(net, NeuralNetClassifier)
    assert net.initialized_
    assert isinstance(net.module_.network, ResNet)
    assert net.module_.network is not estimator.module_
    np.testing.assert_allclose(net.predict_proba(X), estimator.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(net.classes_, np.arange(n_classes))
    np.testing.assert_array_equal(estimator.classes_[net.predict(X)], estimator.predict(X))


@pytest.mark.parametrize("multi_output", [False, True])
@pytest.mark.parametrize("cls", [BoostResNetRegressor, ResNetRegressor])
def test_regressor_net_matches_estimator(cls, multi_output):
    X, y = make_friedman1(n_samples=100, random_state=0)
    X = X.astype(np.float32)
    Y = np.column_stack([y, 100 * y]) if multi_output else y
    params = TINY_BOOST if cls is BoostResNetRegressor else E2E
    reg = cls(**params, loss="huber").fit(X, Y)
    net = reg.to_skorch()
    assert isinstance(net, NeuralNetRegressor)
    np.testing.assert_allclose(net.predict(X), reg.predict(X).reshape(len(X), -1), rtol=1e-5)
    # The net's criterion is the estimator's loss on standardised targets.
    pred = torch.as_tensor(net.predict(X))
    target = torch.as_tensor(np.reshape(Y, (len(X), -1)), dtype=torch.float32)
    standardised = (target - net.module_.network.output_offset) / net.module_.network.output_scale
    z = (pred - net.module_.network.output_offset) / net.module_.network.output_scale
    expected = reg._loss.value(z, standardised, torch.ones(len(X)))
    assert net.criterion_(pred, target).item() == pytest.approx(expected, rel=1e-4)


def test_partial_fit_trains_the_copy_only(iris):
    X, y = iris
    clf = BoostResNetClassifier(**TINY_BOOST, loss="log_loss").fit(X, y)
    before = clf.predict_proba(X)
    net = clf.to_skorch(max_epochs=3, lr=0.05)
    assert net.max_epochs == 3
    assert net.lr == 0.05
    net.partial_fit(X, np.searchsorted(clf.classes_, y))
    assert len(net.history) == 3
    assert all(np.isfinite(h["train_loss"]) for h in net.history)
    assert not np.allclose(net.predict_proba(X), before, atol=1e-4)
    np.testing.assert_array_equal(clf.predict_proba(X), before)
    restored = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(restored.predict_proba(X), net.predict_proba(X))


def test_skorch_callbacks_and_regressor_partial_fit():
    X, y = make_friedman1(n_samples=100, random_state=0)
    X = X.astype(np.float32)
    y2 = y.astype(np.float32).reshape(-1, 1)
    reg = ResNetRegressor(**E2E).fit(X, y)
    net = reg.to_skorch(
        callbacks=[EpochScoring("r2", on_train=True, name="train_r2")], max_epochs=2
    )
    assert net.max_epochs == 2
    net.partial_fit(X, y2)
    assert [h["epoch"] for h in net.history] == [1, 2]
    assert all(-np.inf < h["train_r2"] <= 1 for h in net.history)


def test_default_epochs_come_from_the_estimator(iris):
    X, y = iris
    assert ResNetClassifier(**E2E).fit(X, y).to_skorch().max_epochs == 5
    boosted = BoostResNetClassifier(**TINY_BOOST).fit(X, y)
    assert boosted.to_skorch().max_epochs == 10
    assert boosted.set_params(fine_tune_epochs=1).fit(X, y).to_skorch().max_epochs == 1


@pytest.mark.parametrize("cls", [BoostResNetClassifier, ResNetRegressor])
def test_to_skorch_needs_a_fitted_estimator(cls):
    with pytest.raises(NotFittedError):
        cls().to_skorch()


def test_tensor_batches_cover_every_row_once():
    X = {"x": torch.arange(10.0)[:, None], "sample_weight": torch.ones(10)}
    y = torch.arange(10)
    batches = TensorBatches(Dataset(X, y), batch_size=4, shuffle=True)
    assert len(batches) == 3
    torch.manual_seed(0)
    seen = [(xb["x"][:, 0].long(), yb) for xb, yb in batches]
    assert [len(yb) for _, yb in seen] == [4, 4, 2]
    rows = torch.cat([yb for _, yb in seen])
    assert sorted(rows.tolist()) == list(range(10))
    assert rows.tolist() != list(range(10))
    for xb, yb in seen:
        assert torch.equal(xb, yb)
    ordered = [yb for _, yb in TensorBatches(Dataset(X, y), batch_size=4)]
    assert torch.equal(torch.cat(ordered), y)
