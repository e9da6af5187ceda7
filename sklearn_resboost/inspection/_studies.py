"""The ensemble views of a residual network (Veit, Wilber and Belongie, NeurIPS 2016)."""

import itertools
import math
from numbers import Integral, Real

import numpy as np
from scipy.stats import kendalltau
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params

from .._device import inference_mode
from .._trainer import map_batches
from ._network import (
    PathGradients,
    check_counts,
    check_network,
    check_targets,
    encode_targets,
    frozen,
    make_scorer,
    scores_at_stage,
    scores_through,
    validate_inputs,
)

_COMMON_CONSTRAINTS = {
    "estimator": "no_validation",
    "X": ["array-like", "sparse matrix"],
    "y": ["array-like"],
    "scoring": [str, callable, None],
    "random_state": ["random_state"],
}
# Rows per backward pass: every block's graph is kept for the batch, so it is
# smaller than the inference batch.
GRADIENT_BATCH_SIZE = 1024


def _scorer_of(estimator, X, y, scoring):
    """``score(forward)``: the score of the estimator when its scores come from ``forward``."""
    X_tensor = validate_inputs(estimator, X)
    y = check_targets(estimator, X_tensor, y)
    scorer = make_scorer(scoring)

    def score(forward):
        return float(scorer(frozen(estimator, forward, (X, X_tensor)), X, y))

    return score


@validate_params(
    {
        **_COMMON_CONSTRAINTS,
        "n_deleted": ["array-like", Interval(Integral, 0, None, closed="left"), None],
        "n_repeats": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=False,
)
def lesion_study(estimator, X, y, *, n_deleted=None, n_repeats=5, scoring=None, random_state=None):
    """Score the network with residual blocks deleted at test time.

    Deleting block ``k`` replaces it by its skip connection, ``g_{k+1} = g_k``
    (a downsampling block of ``strides`` keeps its parameter-free shortcut,
    as in Veit et al.'s lesion of downsampling blocks): with skip
    connections only its residual branch goes, and in a plain network
    (``skip=False``) the whole layer. The final head stays on top. A residual
    network, an ensemble of paths, loses little when one block goes, and more
    smoothly as more go; a plain network breaks.

    Parameters
    ----------
    estimator : estimator
        A fitted estimator of sklearn_resboost (its ``module_`` is a
        :class:`~sklearn_resboost.ResNet`).
    X : array-like of shape (n_samples, n_features)
        Evaluation data.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets of ``X``.
    n_deleted : int or array-like of int, default=None
        Numbers of blocks deleted at random, each in [0, n_blocks]; ``None``
        means every number from 0 to ``n_blocks``.
    n_repeats : int, default=5
        Random sets of blocks deleted for each number in ``n_deleted``, in
        [1, inf).
    scoring : str, callable or None, default=None
        Score to report: ``None`` is the estimator's ``score`` (accuracy or
        R²); a string names a scikit-learn scorer
        (:func:`sklearn.metrics.get_scorer`); a callable is a scorer
        ``scorer(estimator, X, y)``.
    random_state : int, RandomState instance or None, default=None
        Draws the deleted sets.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        With the attributes

        baseline_score : float
            Score of the intact network.
        single_scores : ndarray of shape (n_blocks,)
            Score with block ``k`` deleted, for each ``k``.
        n_deleted : ndarray of shape (n_counts,)
            The numbers of deleted blocks.
        scores : ndarray of shape (n_counts, n_repeats)
            Score of each random deletion.
        scores_mean, scores_std : ndarray of shape (n_counts,)
            Their mean and standard deviation over the repeats.
        deleted : list of list of ndarray
            ``deleted[i][r]``: the blocks deleted in repeat ``r`` of count ``i``.

    See Also
    --------
    LesionDisplay : Plot of the lesion study.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn_resboost import BoostResNetClassifier
    >>> from sklearn_resboost.inspection import lesion_study
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> clf = BoostResNetClassifier(n_estimators=4, epochs_per_block=2, width=16,
    ...                             hidden_size=16, random_state=0).fit(X, y)
    >>> result = lesion_study(clf, X, y, n_deleted=[0, 2], n_repeats=3, random_state=0)
    >>> result.single_scores.shape, result.scores.shape
    ((4,), (2, 3))
    >>> bool(result.scores_mean[0] == result.baseline_score == clf.score(X, y))
    True
    """
    module = check_network(estimator)
    n_blocks = module.n_blocks
    counts = check_counts(n_deleted, n_blocks, "n_deleted", upper=n_blocks)
    rng = check_random_state(random_state)
    score = _scorer_of(estimator, X, y, scoring)

    def without(deleted):
        removed = set(deleted.tolist())
        kept = [k for k in range(n_blocks) if k not in removed]
        return lambda x: scores_through(module, x, kept)

    baseline = score(lambda x: scores_through(module, x, range(n_blocks)))
    single = np.array([score(without(np.array([k]))) for k in range(n_blocks)], dtype=float)
    deleted = [
        [np.sort(rng.choice(n_blocks, size=k, replace=False)) for _ in range(n_repeats)]
        for k in counts
    ]
    scores = np.array([[score(without(d)) for d in row] for row in deleted], dtype=float)
    return Bunch(
        baseline_score=baseline,
        single_scores=single,
        n_deleted=counts,
        scores=scores,
        scores_mean=scores.mean(axis=1),
        scores_std=scores.std(axis=1),
        deleted=deleted,
    )


def _swapped_order(n_blocks, n_swaps, rng):
    order = np.arange(n_blocks)
    for _ in range(n_swaps):
        a, b = rng.choice(n_blocks, size=2, replace=False)
        order[[a, b]] = order[[b, a]]
    return order


@validate_params(
    {
        **_COMMON_CONSTRAINTS,
        "n_swaps": ["array-like", Interval(Integral, 0, None, closed="left"), None],
        "n_repeats": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=False,
)
def reorder_study(estimator, X, y, *, n_swaps=None, n_repeats=5, scoring=None, random_state=None):
    """Score the network with its blocks reordered at test time.

    Each reordering swaps ``k`` random pairs of blocks in turn (a pair may come
    up twice); the final head stays on top. The Kendall tau
    (:func:`scipy.stats.kendalltau`) between the new order and the original
    measures how far it moved: 1 for the original order. A residual network
    degrades smoothly as tau falls. The blocks of a network that downsamples
    (``strides``) cannot be reordered: their inputs have different shapes.

    Parameters
    ----------
    estimator : estimator
        A fitted estimator of sklearn_resboost.
    X : array-like of shape (n_samples, n_features)
        Evaluation data.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets of ``X``.
    n_swaps : int or array-like of int, default=None
        Numbers of random swaps, each in [0, inf); ``None`` means every
        number from 0 to ``n_blocks``. Swaps need at least 2 blocks.
    n_repeats : int, default=5
        Random reorderings for each number of swaps, in [1, inf).
    scoring : str, callable or None, default=None
        Score to report, as in :func:`lesion_study`.
    random_state : int, RandomState instance or None, default=None
        Draws the swapped pairs.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        With the attributes

        baseline_score : float
            Score in the original order.
        n_swaps : ndarray of shape (n_counts,)
            The numbers of swaps.
        orders : ndarray of shape (n_counts, n_repeats, n_blocks)
            The order of the blocks in each repeat.
        kendall_tau : ndarray of shape (n_counts, n_repeats)
            Kendall tau of each order against ``0, ..., n_blocks - 1`` (1 when
            there is a single block).
        scores : ndarray of shape (n_counts, n_repeats)
            Score of each reordered network.
        scores_mean, scores_std, kendall_tau_mean : ndarray of shape (n_counts,)
            Means and standard deviation over the repeats.

    See Also
    --------
    ReorderDisplay : Plot of the reordering study.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn_resboost import BoostResNetClassifier
    >>> from sklearn_resboost.inspection import reorder_study
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> clf = BoostResNetClassifier(n_estimators=4, epochs_per_block=2, width=16,
    ...                             hidden_size=16, random_state=0).fit(X, y)
    >>> result = reorder_study(clf, X, y, n_swaps=[0, 1, 3], n_repeats=2, random_state=0)
    >>> result.kendall_tau[0].tolist()
    [1.0, 1.0]
    >>> result.orders.shape
    (3, 2, 4)
    """
    module = check_network(estimator)
    n_blocks = module.n_blocks
    counts = check_counts(n_swaps, n_blocks, "n_swaps")
    if n_blocks < 2 and counts.max() > 0:
        raise ValueError(f"Swapping blocks needs at least 2 blocks; the network has {n_blocks}.")
    downsampling = [k for k, block in enumerate(module.blocks) if getattr(block, "stride", 1) != 1]
    if downsampling:
        raise ValueError(
            "Reordering blocks needs blocks that keep the representation's shape, but "
            f"blocks {downsampling} downsample (strides); the lesion study deletes "
            "blocks of such a network."
        )
    rng = check_random_state(random_state)
    score = _scorer_of(estimator, X, y, scoring)
    original = np.arange(n_blocks)
    orders = np.array(
        [[_swapped_order(n_blocks, k, rng) for _ in range(n_repeats)] for k in counts],
        dtype=np.int64,
    ).reshape(len(counts), n_repeats, n_blocks)
    if n_blocks < 2:
        tau = np.ones(orders.shape[:2])
    else:
        tau = np.array([[kendalltau(original, order).statistic for order in row] for row in orders])
    scores = np.array(
        [
            [score(lambda x, order=order: scores_through(module, x, order)) for order in row]
            for row in orders
        ],
        dtype=float,
    )
    return Bunch(
        baseline_score=score(lambda x: scores_through(module, x, original)),
        n_swaps=counts,
        orders=orders,
        kendall_tau=tau,
        scores=scores,
        scores_mean=scores.mean(axis=1),
        scores_std=scores.std(axis=1),
        kendall_tau_mean=tau.mean(axis=1),
    )


@validate_params(
    {"n_blocks": [Interval(Integral, 0, None, closed="left")]},
    prefer_skip_nested_validation=True,
)
def path_length_distribution(n_blocks):
    """Count the paths of each length in a residual network of ``n_blocks`` blocks.

    Unraveled, ``g_T`` is a sum over the ``2^T`` paths that go through the
    residual branch or the skip of each block; ``C(T, k)`` of them pass through
    exactly ``k`` branches. The lengths follow a Binomial(T, 1/2) law.

    Parameters
    ----------
    n_blocks : int
        Number of residual blocks ``T``, in [0, inf).

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        With the attributes

        path_lengths : ndarray of shape (n_blocks + 1,)
            ``0, 1, ..., T``.
        path_counts : ndarray of shape (n_blocks + 1,)
            ``C(T, k)``, exact: int64 while every count fits, otherwise an
            object array of Python ints.
        path_fraction : ndarray of shape (n_blocks + 1,)
            ``C(T, k) / 2^T``, float64.
        n_paths : int
            ``2^T``, a Python int.

    Examples
    --------
    >>> from sklearn_resboost.inspection import path_length_distribution
    >>> result = path_length_distribution(4)
    >>> result.path_counts.tolist()
    [1, 4, 6, 4, 1]
    >>> result.n_paths
    16
    """
    counts = [math.comb(n_blocks, k) for k in range(n_blocks + 1)]
    n_paths = 2**n_blocks
    fits = max(counts) <= np.iinfo(np.int64).max
    return Bunch(
        path_lengths=np.arange(n_blocks + 1),
        path_counts=np.array(counts, dtype=np.int64 if fits else object),
        path_fraction=np.array([c / n_paths for c in counts], dtype=np.float64),
        n_paths=n_paths,
    )


def _shortest_range(weights, coverage):
    """Shortest ``[lo, hi]`` whose weights sum to at least ``coverage``; heaviest on ties."""
    cumulative = np.concatenate([[0.0], np.cumsum(weights)])
    target = coverage * cumulative[-1]
    best = None
    for lo, hi in itertools.combinations_with_replacement(range(len(weights)), 2):
        mass = cumulative[hi + 1] - cumulative[lo]
        if mass >= target * (1 - 1e-12):
            key = (hi - lo, -mass)
            if best is None or key < best[0]:
                best = (key, lo, hi)
    return np.array([best[1], best[2]])


@validate_params(
    {
        "estimator": "no_validation",
        "X": ["array-like", "sparse matrix"],
        "y": ["array-like"],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "coverage": [Interval(Real, 0, 1, closed="right")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=False,
)
def gradient_by_path_length(estimator, X, y, *, n_samples=10, coverage=0.9, random_state=None):
    """Measure the gradient that reaches the residual stream through paths of each length.

    Veit et al.'s protocol: the batch runs forward through the whole network;
    on the way back, ``k`` sampled blocks let the gradient through their
    residual branch only and the others through their skip only, so that the
    gradient follows a single path of length ``k``. The magnitude is the mean
    over samples of the Euclidean norm of that gradient at ``g_0``, the stem's
    output and the input of the residual part of the network. Multiplied by the
    number of paths of each length, it gives how much of the total gradient
    paths of that length carry.

    The loss is fixed, so that every estimator is measured alike:
    classifiers use the cross-entropy of the raw scores read as logits
    (binary: logistic loss of the single score), regressors half the squared
    error in standardised units ``(z - y) / output_scale``.

    Parameters
    ----------
    estimator : estimator
        A fitted estimator of sklearn_resboost whose network has skip
        connections.
    X : array-like of shape (n_samples, n_features)
        Data the gradients are measured on.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets of ``X``.
    n_samples : int, default=10
        Sampled sets of blocks for each path length, in [1, inf). Lengths with
        at most this many paths use all of them, exactly.
    coverage : float, default=0.9
        Share of the total gradient, in (0, 1], that ``effective_range`` must
        cover.
    random_state : int, RandomState instance or None, default=None
        Draws the sets of blocks.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        With the attributes

        path_lengths : ndarray of shape (n_blocks + 1,)
            ``0, 1, ..., T``.
        path_counts : ndarray of shape (n_blocks + 1,)
            ``C(T, k)``, as in :func:`path_length_distribution`.
        path_fraction : ndarray of shape (n_blocks + 1,)
            ``C(T, k) / 2^T``.
        gradient_norms : ndarray of shape (n_blocks + 1,)
            Mean gradient norm at ``g_0`` of a path of each length.
        gradient_norms_std : ndarray of shape (n_blocks + 1,)
            Standard deviation over the sampled sets of blocks.
        effective_contribution : ndarray of shape (n_blocks + 1,)
            ``path_counts * gradient_norms``, normalised to sum to 1.
        effective_range : ndarray of shape (2,)
            The shortest range ``[lo, hi]`` of lengths carrying at least
            ``coverage`` of the effective contribution.
        effective_path_fraction : float
            Share of all ``2^T`` paths whose length lies in that range.
        full_gradient_norm : float
            Mean norm of the network's own gradient at ``g_0`` (every path).

    Raises
    ------
    ValueError
        When the network has no skip connections: a plain network has a
        single path.

    See Also
    --------
    PathLengthDisplay : Plot of the path-length views.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn_resboost import BoostResNetClassifier
    >>> from sklearn_resboost.inspection import gradient_by_path_length
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> clf = BoostResNetClassifier(n_estimators=4, epochs_per_block=2, width=16,
    ...                             hidden_size=16, random_state=0).fit(X, y)
    >>> result = gradient_by_path_length(clf, X, y, random_state=0)
    >>> result.gradient_norms.shape
    (5,)
    >>> round(float(result.effective_contribution.sum()), 6)
    1.0
    """
    module = check_network(estimator)
    if not module.skip:
        raise ValueError(
            "gradient_by_path_length needs a network with skip connections; a plain "
            "network (skip=False) has a single path through every layer."
        )
    n_blocks = module.n_blocks
    X_tensor = validate_inputs(estimator, X)
    y = check_targets(estimator, X_tensor, y)
    n_outputs = len(module.output_scale)
    targets = encode_targets(estimator, y, n_outputs, X_tensor.device)
    rng = check_random_state(random_state)

    subsets = []
    for k in range(n_blocks + 1):
        if math.comb(n_blocks, k) <= n_samples:
            subsets.append([list(c) for c in itertools.combinations(range(n_blocks), k)])
        else:
            subsets.append(
                [rng.choice(n_blocks, size=k, replace=False).tolist() for _ in range(n_samples)]
            )

    def batch_norms(rows):
        """Sums over the rows of the full gradient's norm and of each subset's path."""
        gradients = PathGradients(estimator, module, X_tensor[rows], targets[rows])
        full = gradients.full().norm(dim=1).sum().item()
        paths = [
            np.array([gradients.path(blocks).norm(dim=1).sum().item() for blocks in sets])
            for sets in subsets
        ]
        return full, paths

    with inference_mode(module) as module:
        batches = map_batches(batch_norms, len(X_tensor), GRADIENT_BATCH_SIZE)
    full_sum = sum(full for full, _ in batches)
    # norm_sums[k][j]: sum over rows of the gradient norm of subset j of length k.
    norm_sums = [sum(paths[k] for _, paths in batches) for k in range(len(subsets))]
    per_subset = [sums / len(X_tensor) for sums in norm_sums]
    norms = np.array([values.mean() for values in per_subset])
    norms_std = np.array([values.std() for values in per_subset])

    distribution = path_length_distribution(n_blocks)
    effective = distribution.path_fraction * norms
    total = effective.sum()
    effective = effective / total if total > 0 else np.full_like(effective, 1 / len(effective))
    lo, hi = _shortest_range(effective, coverage)
    return Bunch(
        path_lengths=distribution.path_lengths,
        path_counts=distribution.path_counts,
        path_fraction=distribution.path_fraction,
        gradient_norms=norms,
        gradient_norms_std=norms_std,
        effective_contribution=effective,
        effective_range=np.array([lo, hi]),
        effective_path_fraction=float(distribution.path_fraction[lo : hi + 1].sum()),
        full_gradient_norm=full_sum / len(X_tensor),
    )


@validate_params(
    {
        "estimator": "no_validation",
        "X": ["array-like", "sparse matrix"],
        "y": ["array-like"],
        "scoring": [str, callable, None],
    },
    prefer_skip_nested_validation=False,
)
def staged_scores(estimator, X, y, *, scoring=None):
    """Score the head of every stage: the ensemble after ``t`` blocks, for each ``t``.

    Stage ``t`` scores ``X`` with its own head on ``g_t``; stage 0 is the
    network without blocks (for the boosted estimators, the prior).

    Parameters
    ----------
    estimator : estimator
        A fitted estimator of sklearn_resboost with one head per stage.
    X : array-like of shape (n_samples, n_features)
        Evaluation data.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets of ``X``.
    scoring : str, callable or None, default=None
        Score to report, as in :func:`lesion_study`.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        With the attributes

        stages : ndarray of shape (n_blocks + 1,)
            ``0, 1, ..., T``, the number of blocks under each head.
        scores : ndarray of shape (n_blocks + 1,)
            Score of each stage.

    See Also
    --------
    StagedScoresDisplay : Plot of the staged scores.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn_resboost import BoostResNetClassifier
    >>> from sklearn_resboost.inspection import staged_scores
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> clf = BoostResNetClassifier(n_estimators=4, epochs_per_block=2, width=16,
    ...                             hidden_size=16, random_state=0).fit(X, y)
    >>> result = staged_scores(clf, X, y)
    >>> bool(result.scores[-1] == clf.score(X, y))
    True
    """
    module = check_network(estimator)
    score = _scorer_of(estimator, X, y, scoring)
    stages = np.arange(module.n_blocks + 1)
    scores = np.array(
        [score(lambda x, t=t: scores_at_stage(module, x, t)) for t in stages], dtype=float
    )
    return Bunch(stages=stages, scores=scores)
