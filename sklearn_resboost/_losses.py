"""Losses of the boosted estimators.

Every loss works on raw scores ``z`` of shape ``(n, K)`` and encoded targets, and
offers three things: the prior (the constant scores of stage 0), the training
objective of a round (a differentiable torch scalar) and the reported loss (the
weighted mean per-sample loss, a float).
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import expit, log_expit, log_softmax, softmax

_LOG_FLOAT64_MAX = math.log(np.finfo(np.float64).max)


def _weighted_quantile(values, weights, q):
    order = np.argsort(values)
    values, weights = values[order], weights[order]
    cumulative = np.cumsum(weights)
    return values[np.searchsorted(cumulative, q * cumulative[-1])]


def _class_frequencies(y, w, n_classes):
    """Weighted class frequencies, floored so that a class of zero weight keeps a finite prior."""
    freq = np.bincount(y, weights=w, minlength=n_classes) / w.sum()
    return np.maximum(freq, 1e-12)


def _log_weighted_mean_exp(a, w):
    """``log(sum(w * exp(a)) / sum(w))``, computed without overflow."""
    return torch.logsumexp(a + torch.log(w), dim=0) - torch.log(w.sum())


class BaseLoss:
    """A loss on raw scores; subclasses define the per-sample loss."""

    #: Whether the objective is the logarithm of the reported loss.
    log_space = False

    def __init__(self, n_outputs):
        self.n_outputs = n_outputs

    def objective(self, z, y, w):
        """Training objective on a batch (a torch scalar)."""
        per_sample = self.per_sample(z, y)
        return (per_sample * w).sum() / w.sum()

    def batch_objective(self, z, y, w, weight_scale):
        """Objective of a training batch, scaled by its mean weight over ``weight_scale``.

        With ``weight_scale`` the mean weight of all training rows, each
        batch is an unbiased estimate of the weighted objective of the whole
        set, however the weights are spread over the batches.
        """
        return self.objective(z, y, w) * (w.mean() / weight_scale)

    def value(self, z, y, w):
        """Weighted mean loss of the scores ``z`` (a Python float)."""
        with torch.no_grad():
            objective = self.objective(z.double(), y, w.double()).item()
        if not self.log_space:
            return objective
        # math.exp raises OverflowError where the loss is merely too large.
        return math.exp(objective) if objective < _LOG_FLOAT64_MAX else math.inf


class BinaryExponentialLoss(BaseLoss):
    """``exp(-y z)`` with ``y`` in {-1, +1}; the objective is its log-mean-exp."""

    log_space = True

    def prior(self, y, w):
        freq = _class_frequencies((y > 0).astype(np.int64), w, 2)
        return np.array([0.5 * np.log(freq[1] / freq[0])])

    def margins(self, z, y):
        return -y * z[:, 0]

    def objective(self, z, y, w):
        return _log_weighted_mean_exp(self.margins(z, y), w)

    @staticmethod
    def proba(z):
        p = expit(2 * z[:, 0])
        return np.column_stack([1 - p, p])

    @staticmethod
    def log_proba(z):
        return np.column_stack([log_expit(-2 * z[:, 0]), log_expit(2 * z[:, 0])])


class MultinomialExponentialLoss(BaseLoss):
    """``sum_{l != y} exp(z_l - z_y)`` (BoostResNet, appendix F), in log space."""

    log_space = True

    def prior(self, y, w):
        return 0.5 * np.log(_class_frequencies(y, w, self.n_outputs))

    def margins(self, z, y):
        z_y = z.gather(1, y[:, None])[:, 0]
        others = z.scatter(1, y[:, None], float("-inf"))
        return torch.logsumexp(others, dim=1) - z_y

    def objective(self, z, y, w):
        return _log_weighted_mean_exp(self.margins(z, y), w)

    @staticmethod
    def proba(z):
        return softmax(2 * z, axis=1)

    @staticmethod
    def log_proba(z):
        return log_softmax(2 * z, axis=1)


class BinaryLogLoss(BaseLoss):
    """Binary cross-entropy with ``y`` in {0, 1}."""

    def prior(self, y, w):
        freq = _class_frequencies((y > 0).astype(np.int64), w, 2)
        return np.array([np.log(freq[1] / freq[0])])

    def per_sample(self, z, y):
        return F.binary_cross_entropy_with_logits(z[:, 0], y, reduction="none")

    @staticmethod
    def proba(z):
        p = expit(z[:, 0])
        return np.column_stack([1 - p, p])

    @staticmethod
    def log_proba(z):
        return np.column_stack([log_expit(-z[:, 0]), log_expit(z[:, 0])])


class MultinomialLogLoss(BaseLoss):
    """Multinomial cross-entropy."""

    def prior(self, y, w):
        return np.log(_class_frequencies(y, w, self.n_outputs))

    def per_sample(self, z, y):
        return F.cross_entropy(z, y, reduction="none")

    @staticmethod
    def proba(z):
        return softmax(z, axis=1)

    @staticmethod
    def log_proba(z):
        return log_softmax(z, axis=1)


class SquaredError(BaseLoss):
    """Mean squared error, averaged over outputs."""

    def prior(self, y, w):
        return np.average(y, axis=0, weights=w)

    def per_sample(self, z, y):
        return ((z - y) ** 2).mean(dim=1)


class AbsoluteError(BaseLoss):
    """Mean absolute error, averaged over outputs."""

    def prior(self, y, w):
        return np.array([_weighted_quantile(col, w, 0.5) for col in y.T])

    def per_sample(self, z, y):
        return (z - y).abs().mean(dim=1)


class HuberLoss(BaseLoss):
    """Huber loss, averaged over outputs.

    ``delta`` is the ``alpha``-quantile of the absolute residuals of the prior,
    per output, fixed for the whole fit so that every round minimises the same
    objective.
    """

    def __init__(self, n_outputs, alpha=0.9):
        super().__init__(n_outputs)
        self.alpha = alpha
        self.delta = None

    def prior(self, y, w):
        prior = np.array([_weighted_quantile(col, w, 0.5) for col in y.T])
        residuals = np.abs(y - prior)
        delta = [_weighted_quantile(col, w, self.alpha) for col in residuals.T]
        # A zero delta (most residuals are zero) would turn Huber into L1 with a
        # zero-width kink; keep it strictly positive.
        self.delta = np.maximum(np.asarray(delta), 1e-12)
        return prior

    def per_sample(self, z, y):
        delta = torch.as_tensor(self.delta, dtype=z.dtype, device=z.device)
        r = (z - y).abs()
        quadratic = 0.5 * r**2
        linear = delta * (r - 0.5 * delta)
        return torch.where(r <= delta, quadratic, linear).mean(dim=1)


CLASSIFICATION_LOSSES = {
    "exponential": (BinaryExponentialLoss, MultinomialExponentialLoss),
    "log_loss": (BinaryLogLoss, MultinomialLogLoss),
}
REGRESSION_LOSSES = {
    "squared_error": SquaredError,
    "absolute_error": AbsoluteError,
    "huber": HuberLoss,
}
