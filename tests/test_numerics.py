"""Numerics: no overflow in the losses, no NaN from huge data, non-finite rounds rolled back."""

import math
import warnings

import numpy as np
import pytest
import torch
from _params import SMALL_BOOST, SMALL_E2E, TINY_E2E
from sklearn.base import is_classifier
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_resboost import (
    BoostResNetClassifier,
    BoostResNetRegressor,
    ResNetClassifier,
    ResNetRegressor,
)
from sklearn_resboost._edges import hypothesis_edge
from sklearn_resboost._losses import (
    AbsoluteError,
    BinaryExponentialLoss,
    BinaryLogLoss,
    HuberLoss,
    MultinomialExponentialLoss,
    MultinomialLogLoss,
    SquaredError,
)
from sklearn_resboost._modules import MLPBlock

HUGE = 1e30


def _targets(loss):
    """Encoded targets for the loss, for scores of shape (4, K)."""
    if isinstance(loss, BinaryExponentialLoss):
        return torch.tensor([1.0, -1.0, 1.0, -1.0])
    if isinstance(loss, BinaryLogLoss):
        return torch.tensor([1.0, 0.0, 1.0, 0.0])
    return torch.tensor([0, 1, 2, 0])


CLASSIFICATION = [
    BinaryExponentialLoss(1),
    BinaryLogLoss(1),
    MultinomialExponentialLoss(3),
    MultinomialLogLoss(3),
]


@pytest.mark.parametrize("loss", CLASSIFICATION, ids=lambda loss: type(loss).__name__)
@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["right", "wrong"])
def test_classification_objectives_never_overflow(loss, sign):
    y = _targets(loss)
    if loss.n_outputs == 1:
        z = (sign * HUGE * torch.where(y > 0, 1.0, -1.0))[:, None]
    else:
        z = torch.full((4, 3), -sign * HUGE)
        z[torch.arange(4), y] = sign * HUGE
    z = z.float().requires_grad_(True)
    w = torch.ones(4)
    objective = loss.objective(z, y, w)
    assert torch.isfinite(objective)
    objective.backward()
    assert torch.all(torch.isfinite(z.grad))
    value = loss.value(z.detach(), y, w)
    assert not math.isnan(value)
    if sign > 0:
        assert value == pytest.approx(0.0, abs=1e-12)
    else:
        # Every sample is wrong by 1e30: an infinite loss, not an OverflowError.
        assert value > 1e29


def test_exponential_objective_is_an_exact_log_mean_exp():
    loss = BinaryExponentialLoss(1)
    z = torch.tensor([[-1000.0], [1000.0], [0.0]], dtype=torch.float64)
    y = torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
    w = torch.tensor([1.0, 2.0, 1.0], dtype=torch.float64)
    # exp(1000) dominates: log(exp(1000) / 4) = 1000 - log 4.
    assert loss.objective(z, y, w).item() == pytest.approx(1000 - math.log(4), rel=1e-12)
    assert loss.value(z, y, w) == math.inf


@pytest.mark.parametrize(
    "loss", [SquaredError(1), AbsoluteError(1), HuberLoss(1)], ids=lambda loss: type(loss).__name__
)
def test_regression_values_of_huge_scores_are_finite(loss):
    y = np.array([[0.0], [1.0], [2.0], [3.0]])
    loss.prior(y, np.ones(4))
    z = torch.full((4, 1), HUGE)
    value = loss.value(z, torch.as_tensor(y), torch.ones(4))
    assert np.isfinite(value) and value > 0


@pytest.mark.parametrize("loss", CLASSIFICATION, ids=lambda loss: type(loss).__name__)
def test_probabilities_of_huge_scores(loss):
    z = np.array([[HUGE, -HUGE, 0.0], [-HUGE, HUGE, 0.0], [0.0, 0.0, 0.0]])[:, : loss.n_outputs]
    proba = loss.proba(z)
    log_proba = loss.log_proba(z)
    assert np.all(np.isfinite(proba)) and np.all(np.isfinite(log_proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(log_proba), proba, atol=1e-300)
    # Confident scores keep their log-probability instead of log(0) = -inf.
    assert log_proba.min() < -1e29


@pytest.mark.parametrize("n_classes", [2, 3])
def test_edges_of_huge_scores_are_finite(n_classes):
    rng = np.random.RandomState(0)
    y = rng.randint(n_classes, size=20)
    K = 1 if n_classes == 2 else n_classes
    z_prev = rng.choice([-HUGE, HUGE], size=(20, K))
    z_next = rng.choice([-HUGE, HUGE], size=(20, K))
    labels = np.where(y > 0, 1, -1) if n_classes == 2 else y
    edge = hypothesis_edge(z_prev, z_next, labels, np.ones(20))
    assert np.isfinite(edge) and -1 <= edge <= 1


def test_huge_targets_and_features_train_like_small_ones():
    X, y = make_regression(n_samples=200, n_features=5, noise=5.0, random_state=0)
    reference = BoostResNetRegressor(**SMALL_BOOST).fit(X, y)
    scaled = BoostResNetRegressor(**SMALL_BOOST).fit(X * 1e20, y * 1e15)
    assert np.all(np.isfinite(scaled.train_score_))
    predictions = scaled.predict(X * 1e20)
    assert np.all(np.isfinite(predictions))
    # Standardisation makes the fit scale-free, up to float32 rounding.
    np.testing.assert_allclose(
        predictions / 1e15, reference.predict(X), rtol=1e-3, atol=1e-3 * y.std()
    )
    assert scaled.score(X * 1e20, y * 1e15) == pytest.approx(reference.score(X, y), abs=1e-3)


@pytest.mark.parametrize(
    "make", [lambda: BoostResNetRegressor(**SMALL_BOOST), lambda: ResNetRegressor(**SMALL_E2E)],
    ids=["boosted", "end-to-end"],
)
def test_large_target_mean_keeps_its_precision(make):
    # float32 has 7 digits: a mean of 1e9 stored in float32 is off by up to 32,
    # far more than the spread of y; the stored float32 mean must be the one the
    # targets were standardised with.
    X, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=0)
    y = y / y.std()
    reference = make().fit(X, y)
    shifted = make().fit(X, y + 1e9 + 0.3)
    np.testing.assert_allclose(shifted.predict(X) - 1e9 - 0.3, reference.predict(X), atol=1e-3)
    assert shifted.score(X, y + 1e9 + 0.3) == pytest.approx(reference.score(X, y), abs=1e-3)


def test_huge_sample_weights_train_like_unit_weights():
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    unit = BoostResNetClassifier(**SMALL_BOOST).fit(X, y)
    for scale in (1e300, 1e-300):
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            scaled = BoostResNetClassifier(**SMALL_BOOST).fit(
                X, y, sample_weight=np.full(len(y), scale)
            )
        np.testing.assert_allclose(scaled.decision_function(X), unit.decision_function(X))


class _BrokenBlock(torch.nn.Module):
    """A residual branch whose output is ``value`` everywhere (NaN or inf)."""

    def __init__(self, width, value):
        super().__init__()
        self.linear = torch.nn.Linear(width, width)
        self.value = value

    def forward(self, g):
        return self.linear(g) + self.value


def _broken_in_round(bad_round, value):
    rounds = iter(range(1000))

    def block(width):
        if next(rounds) == bad_round:
            return _BrokenBlock(width, value)
        return MLPBlock(width, SMALL_BOOST["hidden_size"])

    return block


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
@pytest.mark.parametrize("bad_round", [0, 2])
@pytest.mark.parametrize("make", [BoostResNetClassifier, BoostResNetRegressor])
def test_non_finite_round_is_rolled_back(make, bad_round, value):
    if make is BoostResNetClassifier:
        X, y = make_classification(n_samples=120, n_features=5, random_state=0)
    else:
        X, y = make_regression(n_samples=120, n_features=5, random_state=0)
    est = make(**{**SMALL_BOOST, "n_estimators": 4}, block=_broken_in_round(bad_round, value))
    with pytest.warns(ConvergenceWarning, match=f"Round {bad_round} produced a non-finite"):
        est.fit(X, y)
    assert est.n_estimators_ == bad_round
    assert len(est.module_.blocks) == bad_round and len(est.module_.heads) == bad_round + 1
    assert len(est.train_score_) == bad_round + 1
    assert np.all(np.isfinite(est.train_score_))
    assert np.all(np.diff(est.train_score_) <= 0)
    outputs = est.decision_function(X) if make is BoostResNetClassifier else est.predict(X)
    assert np.all(np.isfinite(outputs))
    np.testing.assert_allclose(est.hypothesis_ensemble(X).sum(axis=0), outputs, atol=1e-6)


def test_huge_lr_never_produces_nan():
    X, y = make_classification(n_samples=120, n_features=5, random_state=0)
    for lr in (1e3, 1e18):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = BoostResNetClassifier(**{**SMALL_BOOST, "lr": lr}).fit(X, y)
        assert np.all(np.isfinite(clf.train_score_))
        assert np.all(np.isfinite(clf.predict_proba(X)))
        # A round never ends worse than it began.
        assert np.all(np.diff(clf.train_score_) <= 0)


@pytest.mark.parametrize(
    "make", [BoostResNetClassifier, BoostResNetRegressor, ResNetClassifier, ResNetRegressor]
)
@pytest.mark.parametrize(
    "params, name",
    [
        ({"lr": 1e300}, "lr"),
        ({"lr": 1e19}, "lr"),
        ({"weight_decay": 1e300}, "weight_decay"),
        ({"learning_rate": 1e300}, "learning_rate"),
        ({"input_noise": 1e300}, "input_noise"),
    ],
)
def test_values_float32_training_cannot_use_are_refused(make, params, name):
    X, y = make_classification(n_samples=60, n_features=5, random_state=0)
    with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter of {make.__name__}"):
        make(**params).fit(X, y)


def test_the_largest_accepted_optimizer_values_train_without_error():
    X, y = make_classification(n_samples=60, n_features=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for est in (
            BoostResNetClassifier(**{**SMALL_BOOST, "lr": 1e18, "weight_decay": 1e18}),
            ResNetClassifier(**{**TINY_E2E, "lr": 1e18, "weight_decay": 1e18}),
        ):
            assert np.all(np.isfinite(est.fit(X, y).predict_proba(X)))


@pytest.fixture(scope="module")
def fitted_models():
    X, y = make_classification(
        n_samples=150, n_features=5, n_informative=3, n_classes=3, random_state=0
    )
    X_reg, y_reg = make_regression(n_samples=150, n_features=5, random_state=0)
    return [
        (BoostResNetClassifier(**SMALL_BOOST).fit(X, y > 0), X),
        (BoostResNetClassifier(**SMALL_BOOST, loss="log_loss").fit(X, y), X),
        (BoostResNetClassifier(**SMALL_BOOST).fit(X, y), X),
        (BoostResNetRegressor(**SMALL_BOOST).fit(X_reg, y_reg), X_reg),
        (
            BoostResNetRegressor(**SMALL_BOOST, loss="huber").fit(
                X_reg, np.column_stack([y_reg, -y_reg])
            ),
            X_reg,
        ),
        (ResNetClassifier(**SMALL_E2E, loss="exponential").fit(X, y), X),
        (ResNetRegressor(**SMALL_E2E).fit(X_reg, y_reg), X_reg),
    ]


@pytest.mark.parametrize("factor", [1e3, 1e10, 1e30, 3e38, -3e38])
def test_far_outside_the_training_range_stays_finite(fitted_models, factor):
    for est, X in fitted_models:
        # Rows scaled to reach |factor|, and rows shifted by factor / 1e3.
        X_far = X[:20] / np.abs(X[:20]).max() * factor
        X_far[::3] = X[:20:3] + factor / 1e3
        if is_classifier(est):
            final = est.decision_function(X_far)
            outputs = [final, est.predict_proba(X_far), est.predict_log_proba(X_far)]
        else:
            final = est.predict(X_far)
            outputs = [final]
        if not hasattr(est, "hypothesis_ensemble"):
            assert all(np.all(np.isfinite(output)) for output in outputs), (est, factor)
            continue
        staged = est.staged_decision_function if is_classifier(est) else est.staged_predict
        hypothesis, features = est.hypothesis_ensemble(X_far), est.feature_ensemble(X_far)
        for output in [*outputs, *staged(X_far), hypothesis, features]:
            assert np.all(np.isfinite(output)), (est, factor)
        scale = 1e-9 * max(1.0, np.abs(final).max())
        np.testing.assert_allclose(hypothesis.sum(axis=0), final, atol=scale)
        np.testing.assert_allclose(features.sum(axis=0), final, atol=scale)


@pytest.mark.parametrize("make", [BoostResNetClassifier, lambda: ResNetClassifier(**SMALL_E2E)])
def test_float32_features_whose_sum_overflows_float32(make):
    # 23 x 1.5e37 overflows a float32 sum: the stem's statistics are float64.
    X = np.full((23, 2), 1.4794887e37, dtype=np.float32)
    X[::2, 1] = -3e38
    y = np.arange(23) % 2
    est = make() if make is not BoostResNetClassifier else make(**SMALL_BOOST)
    est.fit(X, y)
    assert np.all(np.isfinite(est.module_.stem.center.numpy()))
    assert np.all(np.isfinite(est.module_.stem.scale.numpy()))
    assert np.all(np.isfinite(est.decision_function(X)))


@pytest.mark.parametrize("loss", ["exponential", "log_loss"])
def test_a_class_of_negligible_weight_keeps_a_finite_prior(loss):
    X = np.zeros((2, 1))
    clf = BoostResNetClassifier(**SMALL_BOOST, loss=loss).fit(X, [1, 0], sample_weight=[1.0, 1e-33])
    assert np.all(np.isfinite(clf.decision_function(X)))
    assert np.all(np.isfinite(clf.predict_log_proba(X)))
    np.testing.assert_array_equal(clf.predict(X), [1, 1])
