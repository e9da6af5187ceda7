"""The losses: priors, log-space exponential losses, reported values."""

import numpy as np
import pytest
import torch

from sklearn_resboost._losses import (
    AbsoluteError,
    BinaryExponentialLoss,
    BinaryLogLoss,
    HuberLoss,
    MultinomialExponentialLoss,
    MultinomialLogLoss,
    SquaredError,
)


def test_exponential_losses_never_overflow():
    z = torch.tensor([[-5000.0], [3000.0]])
    y = torch.tensor([1.0, -1.0])
    w = torch.ones(2)
    loss = BinaryExponentialLoss(1)
    objective = loss.objective(z, y, w)
    assert torch.isfinite(objective)
    assert objective.item() == pytest.approx(5000.0 - np.log(2), rel=1e-6)
    multi = MultinomialExponentialLoss(3)
    z3 = torch.tensor([[4000.0, 0.0, -4000.0]], requires_grad=True)
    value = multi.objective(z3, torch.tensor([2]), torch.ones(1))
    value.backward()
    assert torch.isfinite(value) and torch.all(torch.isfinite(z3.grad))


def test_exponential_matches_definition_for_moderate_scores(rng):
    z = rng.normal(size=(20, 4))
    y = rng.randint(0, 4, size=20)
    w = rng.uniform(0.5, 2, size=20)
    expected = np.average(
        [sum(np.exp(z[i, k] - z[i, y[i]]) for k in range(4) if k != y[i]) for i in range(20)],
        weights=w,
    )
    value = MultinomialExponentialLoss(4).value(
        torch.tensor(z), torch.tensor(y), torch.tensor(w)
    )
    assert value == pytest.approx(expected, rel=1e-10)
    zb = rng.normal(size=(20, 1))
    yb = np.where(rng.rand(20) > 0.5, 1.0, -1.0)
    expected = np.average(np.exp(-yb * zb[:, 0]), weights=w)
    value = BinaryExponentialLoss(1).value(torch.tensor(zb), torch.tensor(yb), torch.tensor(w))
    assert value == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(
    "loss, probability",
    [
        (BinaryExponentialLoss(1), lambda p: 1 / (1 + np.exp(-2 * p))),
        (BinaryLogLoss(1), lambda p: 1 / (1 + np.exp(-p))),
    ],
)
def test_binary_priors_calibrate_to_the_class_frequency(loss, probability):
    y = np.array([1, 1, 1, 0])
    w = np.array([1.0, 1.0, 1.0, 3.0])
    prior = loss.prior(y, w)
    assert probability(prior[0]) == pytest.approx(0.5)


def test_multiclass_priors_calibrate_and_stay_finite():
    y = np.array([0, 1, 1, 2, 2, 2])
    w = np.ones(6)
    exp_prior = MultinomialExponentialLoss(3).prior(y, w)
    np.testing.assert_allclose(MultinomialExponentialLoss.proba(exp_prior[None]), [[1 / 6, 2 / 6, 3 / 6]])
    log_prior = MultinomialLogLoss(3).prior(y, w)
    np.testing.assert_allclose(MultinomialLogLoss.proba(log_prior[None]), [[1 / 6, 2 / 6, 3 / 6]])
    # A class present in y with zero total weight keeps a finite prior.
    zero = MultinomialLogLoss(3).prior(y, np.array([0, 1, 1, 1, 1, 1.0]))
    assert np.all(np.isfinite(zero)) and zero[0] < zero[1]


def test_regression_priors_and_values():
    y = np.array([[1.0], [2.0], [10.0]])
    w = np.ones(3)
    assert SquaredError(1).prior(y, w)[0] == pytest.approx(13 / 3)
    assert AbsoluteError(1).prior(y, w)[0] == 2.0
    huber = HuberLoss(1, alpha=0.5)
    assert huber.prior(y, w)[0] == 2.0
    assert huber.delta[0] == pytest.approx(1.0)
    z = torch.tensor([[2.0], [2.0], [2.0]], dtype=torch.float64)
    yt = torch.tensor(y)
    wt = torch.ones(3, dtype=torch.float64)
    assert SquaredError(1).value(z, yt, wt) == pytest.approx((1 + 0 + 64) / 3)
    assert AbsoluteError(1).value(z, yt, wt) == pytest.approx(9 / 3)
    # Huber with delta 1: 0.5 for |r| = 1, 0 for r = 0, 1 * (8 - 0.5) for |r| = 8.
    assert huber.value(z, yt, wt) == pytest.approx((0.5 + 0 + 7.5) / 3)
