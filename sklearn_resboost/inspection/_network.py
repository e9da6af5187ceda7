"""Modified forward passes of a fitted network, and the adapter that scores them.

Every study runs the fitted ``ResNet`` of an estimator in some altered way
(blocks deleted, reordered, or a gradient path blocked) and needs the scores
the estimator *would* give. The functions here only rely on ``module_`` (a
:class:`~sklearn_resboost.ResNet`), ``n_features_in_``, ``device_`` and the
estimator's convention for turning raw scores into predictions, so that they
work for every estimator of the package.
"""

from numbers import Integral

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.metrics import get_scorer
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import check_array, check_consistent_length, check_is_fitted

from .._device import EVAL_BATCH_SIZE, inference_mode
from .._losses import CLASSIFICATION_LOSSES
from .._modules import ResNet
from .._targets import ClassifierTargets, RegressorTargets
from .._trainer import map_batches
from .._validation import validate_X


def check_network(estimator):
    """Return the fitted ``ResNet`` of ``estimator``, or raise a clear error."""
    check_is_fitted(estimator)
    module = getattr(estimator, "module_", None)
    if not isinstance(module, ResNet):
        found = (
            "it has no fitted network (module_)"
            if module is None
            else f"its module_ is a {type(module).__name__}, not a sklearn_resboost ResNet"
        )
        raise TypeError(
            f"{type(estimator).__name__} is not a fitted estimator of sklearn_resboost: "
            f"{found}. The inspection tools need a fitted BoostResNetClassifier, "
            "BoostResNetRegressor, ResNetClassifier or ResNetRegressor."
        )
    if len(module.heads) < module.n_blocks + 1:
        raise ValueError(
            f"The network has {module.n_blocks} blocks but only {len(module.heads)} "
            "heads; the final head heads[n_blocks] is missing."
        )
    return module


def validate_inputs(estimator, X):
    """Validate ``X`` as the estimator does at predict time; a float32 tensor on its device."""
    validate = getattr(estimator, "_validate_X", None)
    if validate is not None:
        return validate(X)
    X = validate_X(estimator, X, reset=False)
    return torch.as_tensor(X, dtype=torch.float32, device=estimator.device_)


def check_targets(estimator, X, y):
    """Check that ``y`` has one entry per row of ``X``, numeric and finite for a regressor."""
    check_consistent_length(X, y)
    if is_classifier(estimator):
        return np.asarray(y)
    try:
        return check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
    except ValueError as exc:
        if "could not convert" not in str(exc):
            raise
        raise ValueError(
            f"y must hold numbers for the regressor {type(estimator).__name__}: {exc}"
        ) from exc


def check_counts(values, n_blocks, name, upper=None):
    """Validate a number or a 1-D array of numbers of blocks, each in [0, upper]."""
    if values is None:
        return np.arange(n_blocks + 1)
    counts = np.atleast_1d(np.asarray(values))
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f"{name} must be an int or a non-empty 1-D array of ints.")
    not_integers = [
        v for v in counts.tolist() if not isinstance(v, Integral) or isinstance(v, bool)
    ]
    if not_integers:
        raise TypeError(f"{name} must hold integers; got {not_integers[:5]}.")
    counts = counts.astype(np.int64)
    bad = counts[(counts < 0) | ((counts > upper) if upper is not None else False)]
    if bad.size:
        bound = f"between 0 and {upper}" if upper is not None else "non-negative"
        raise ValueError(f"{name} must hold integers {bound}; got {bad.tolist()}.")
    return counts


def _batched(module, X, forward, axis=0):
    """``forward`` over the rows of ``X`` in batches, on the inference copy of ``module``."""
    with torch.no_grad(), inference_mode(module) as module:
        chunks = map_batches(lambda s: forward(module, X[s]), len(X), EVAL_BATCH_SIZE)
    return np.concatenate(chunks, axis=axis)


def scores_through(module, X, blocks):
    """Float64 final-head scores when ``g_0`` passes through ``blocks`` (see ``ResNet``)."""
    return _batched(module, X, lambda m, x: m.scores_through(x, blocks).double().cpu().numpy())


def scores_at_stage(module, X, stage):
    """Scores of the head of ``stage`` on ``g_stage``, float64 of shape ``(n_samples, K)``."""

    def forward(m, x):
        g, _ = m.stage(x, stage)
        return m.scores(m.heads[stage], g).double().cpu().numpy()

    return _batched(module, X, forward)


def decomposition(estimator, X, kind):
    """Per-stage contributions ``(T + 1, n, K)`` of the ``kind`` ensemble.

    The estimator's own ``hypothesis_ensemble`` / ``feature_ensemble`` is used
    when it has one; otherwise they are computed from the module.
    """
    module = check_network(estimator)
    method = getattr(estimator, f"{kind}_ensemble", None)
    if method is not None:
        contributions = np.asarray(method(X), dtype=np.float64)
        if contributions.ndim == 2:
            contributions = contributions[..., None]
        return contributions
    X = validate_inputs(estimator, X)
    return _batched(module, X, lambda m, x: m.contributions(x, kind), axis=1)


class _FrozenNetwork(BaseEstimator):
    """Predictions of ``estimator`` computed from the scores of a modified network.

    The mapping from scores to predictions is the estimators' own
    (:class:`~sklearn_resboost._targets.ClassifierTargets`,
    :class:`~sklearn_resboost._targets.RegressorTargets`), read through the
    fitted state of ``estimator``.

    Parameters
    ----------
    estimator : estimator
        The fitted estimator whose prediction conventions are used.
    forward : callable
        Maps a validated input tensor to raw scores of shape ``(n, K)``.
    inputs : tuple
        ``(X, X_tensor)``: the inputs the study scores and their validated
        tensor, reused when a scorer passes that same ``X``.
    """

    def __init__(self, estimator, forward, inputs):
        self.estimator = estimator
        self.forward = forward
        self.inputs = inputs

    def __sklearn_is_fitted__(self):
        return True

    @property
    def _loss(self):
        # An estimator of another package holding a ResNet is read as a
        # cross-entropy model (the log loss's link).
        loss = getattr(self.estimator, "_loss", None)
        if loss is None:
            binary, multiclass = CLASSIFICATION_LOSSES["log_loss"]
            n_outputs = self.estimator.module_.output_scale.numel()
            loss = binary(1) if n_outputs == 1 else multiclass(n_outputs)
        return loss

    def _raw_scores(self, X):
        X_seen, tensor = self.inputs
        if X is not X_seen:
            tensor = validate_inputs(self.estimator, X)
        return self.forward(tensor)


class _FrozenClassifier(ClassifierMixin, ClassifierTargets, _FrozenNetwork):
    @property
    def classes_(self):
        return self.estimator.classes_


class _FrozenRegressor(RegressorMixin, RegressorTargets, _FrozenNetwork):
    @property
    def _y_ndim(self):
        n_outputs = self.estimator.module_.output_scale.numel()
        return getattr(self.estimator, "_y_ndim", 1 if n_outputs == 1 else 2)


def frozen(estimator, forward, inputs):
    """A read-only estimator giving ``estimator``'s predictions for ``forward``'s scores."""
    cls = _FrozenClassifier if is_classifier(estimator) else _FrozenRegressor
    return cls(estimator, forward, inputs)


def make_scorer(scoring):
    """``scorer(estimator, X, y)``: the estimator's ``score`` for None, else sklearn's."""
    if scoring is None:
        return lambda estimator, X, y: estimator.score(X, y)
    return get_scorer(scoring)


def score_name(estimator, scoring):
    """A short label of the score, for plots."""
    if scoring is None:
        return "accuracy" if is_classifier(estimator) else "R²"
    if isinstance(scoring, str):
        return scoring
    return getattr(scoring, "__name__", "score")


def select_rows(X, indices):
    """Rows of ``X`` (array, DataFrame or list), keeping its type."""
    return _safe_indexing(X, indices)


def encode_targets(estimator, y, n_outputs, device):
    """Targets of the gradient study's loss: class indices, or values of shape (n, K)."""
    if is_classifier(estimator):
        index = {label: i for i, label in enumerate(estimator.classes_.tolist())}
        y = np.asarray(y).ravel().tolist()
        unknown = sorted({str(label) for label in y if label not in index})
        if unknown:
            raise ValueError(
                f"y contains labels {unknown} that are not in the estimator's classes_."
            )
        return torch.as_tensor([index[label] for label in y], device=device)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    if y.shape[1] != n_outputs:
        raise ValueError(f"y has {y.shape[1]} outputs but the network has {n_outputs}.")
    return torch.as_tensor(y, dtype=torch.float32, device=device)


def summed_loss(estimator, module, z, y):
    """The loss whose gradient the path study measures, summed over samples.

    Classifiers: cross-entropy of the raw scores read as logits (binary:
    logistic loss of the single score). Regressors: half the squared error in
    the standardised units the head works in, ``(z - y) / output_scale``.
    Summing makes each row's gradient that of its own loss.
    """
    if is_classifier(estimator):
        if z.shape[1] == 1:
            return F.binary_cross_entropy_with_logits(z[:, 0], y.to(z.dtype), reduction="sum")
        return F.cross_entropy(z, y, reduction="sum")
    return 0.5 * (((z - y) / module.output_scale) ** 2).sum()


class PathGradients:
    """Gradients of the loss at ``g_0`` that flow along chosen paths of the unraveled network.

    The network runs forward once; every block's input is kept as a leaf, so
    that the gradient of any path is a chain of vector-Jacobian products of
    the residual branches it goes through and of the skips of the other
    blocks: the identity, or a downsampling block's linear shortcut.

    Parameters
    ----------
    estimator : estimator
        The fitted estimator (its type picks the loss).
    module : ResNet
        Its network, with skip connections.
    X : torch.Tensor of shape (n, n_features)
        Validated inputs.
    y : torch.Tensor
        Targets from :func:`encode_targets`.
    """

    def __init__(self, estimator, module, X, y):
        self.inputs, self.branches, self.skips = [], [], []
        nu = module.learning_rate
        with torch.no_grad():
            g = module.stem(X)
        for k, block in enumerate(module.blocks):
            g = g.detach().requires_grad_(True)
            with torch.enable_grad():
                branch = nu * block(g)
                skip = module.skip_path(k, g)
            self.inputs.append(g)
            self.branches.append(branch)
            self.skips.append(skip)
            g = skip + branch
        g_T = g.detach().requires_grad_(True)
        with torch.enable_grad():
            loss = summed_loss(
                estimator, module, module.scores(module.heads[module.n_blocks], g_T), y
            )
        (self.output_gradient,) = torch.autograd.grad(loss, g_T)

    def _through_branch(self, k, gradient):
        (gradient,) = torch.autograd.grad(
            self.branches[k], self.inputs[k], grad_outputs=gradient, retain_graph=True
        )
        return gradient

    def _through_skip(self, k, gradient):
        if self.skips[k] is self.inputs[k]:
            return gradient
        (gradient,) = torch.autograd.grad(
            self.skips[k], self.inputs[k], grad_outputs=gradient, retain_graph=True
        )
        return gradient

    def path(self, blocks):
        """Gradient along the single path through the residual branches of ``blocks``.

        Every other block passes the gradient through its skip only.
        """
        blocks = set(blocks)
        gradient = self.output_gradient
        for k in reversed(range(len(self.branches))):
            through = self._through_branch if k in blocks else self._through_skip
            gradient = through(k, gradient)
        return gradient

    def full(self):
        """Gradient through every block's skip and branch: the network's own gradient."""
        gradient = self.output_gradient
        for k in reversed(range(len(self.branches))):
            gradient = self._through_skip(k, gradient) + self._through_branch(k, gradient)
        return gradient
