"""The reordering display: the score of the network with its blocks shuffled by swaps."""

import numpy as np
from sklearn.utils._optional_dependencies import check_matplotlib_support

from .._network import score_name
from .._studies import reorder_study
from ._common import (
    _baseline,
    _check_option,
    _estimator_name,
    _estimator_title,
    _label_axes,
    _mean_band,
    _panels,
    _set_title,
    _title,
)


class ReorderDisplay:
    """Score of the network with its blocks reordered, against Kendall tau or swaps.

    Build it with :meth:`from_estimator`, or from the output of
    :func:`reorder_study`.

    Parameters
    ----------
    baseline_score : float
        Score in the original order.
    n_swaps : ndarray of shape (n_counts,)
        Numbers of swaps.
    kendall_tau : ndarray of shape (n_counts, n_repeats)
        Kendall tau of each order against the original.
    scores : ndarray of shape (n_counts, n_repeats)
        Score of each reordered network.
    score_name : str, default=None
        Label of the score axis; ``None`` writes "score".
    name : str, default=None
        Legend label; ``None`` draws no legend.

    Attributes
    ----------
    line_ : matplotlib Line2D
        Mean score per number of swaps (at the mean tau, in order of tau, when
        ``x="kendall_tau"``).
    scatter_ : matplotlib PathCollection or None
        Every reordering, when ``x="kendall_tau"``.
    fill_ : matplotlib PolyCollection or None
        Band of one standard deviation, when ``x="n_swaps"``.
    baseline_line_ : matplotlib Line2D
        The score in the original order.
    ax_ : matplotlib Axes
        Axes of the plot.
    figure_ : matplotlib Figure
        Figure holding ``ax_``.

    See Also
    --------
    reorder_study : The study.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import make_classification
    >>> from sklearn_resboost import BoostResNetClassifier
    >>> from sklearn_resboost.inspection import ReorderDisplay
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> clf = BoostResNetClassifier(n_estimators=4, epochs_per_block=2, width=16,
    ...                             hidden_size=16, random_state=0).fit(X, y)
    >>> display = ReorderDisplay.from_estimator(clf, X, y, n_repeats=2, random_state=0)
    >>> display.ax_.get_xlabel()
    'Kendall tau with the original order'
    """

    _x_options = frozenset({"kendall_tau", "n_swaps"})

    def __init__(self, *, baseline_score, n_swaps, kendall_tau, scores, score_name=None, name=None):
        self.baseline_score = baseline_score
        self.n_swaps = n_swaps
        self.kendall_tau = kendall_tau
        self.scores = scores
        self.score_name = score_name
        self.name = name

    def plot(self, ax=None, *, x="kendall_tau", name=None, title=None):
        """Draw the score of the reordered networks.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` makes a new figure.
        x : {"kendall_tau", "n_swaps"}, default="kendall_tau"
            Horizontal axis: every reordering against its Kendall tau (with
            the mean per number of swaps as a line, in order of tau), or the
            mean ± std score against the number of swaps.
        name : str, default=None
            Legend label; ``None`` uses ``self.name``.
        title : str, default=None
            Title of the figure; ``None`` writes the legend label on a new
            figure and leaves the title of ``ax``'s figure alone; ``""``
            writes none.

        Returns
        -------
        display : ReorderDisplay
            The display, with the artists stored.
        """
        _check_option(x, "x", self._x_options)
        axes, self.figure_ = _panels(ax, 1, f"{type(self).__name__}.plot")
        self.ax_ = axes[0]
        name = self.name if name is None else name
        scores = np.asarray(self.scores, dtype=float)
        tau = np.asarray(self.kendall_tau, dtype=float)
        mean, std = scores.mean(axis=1), scores.std(axis=1)
        self.scatter_ = self.fill_ = None
        if x == "kendall_tau":
            # The mean tau does not fall steadily with the number of swaps
            # (swaps undo each other, and it levels off near 0): in the order
            # of the swaps the line would zigzag.
            tau_mean = tau.mean(axis=1)
            by_tau = np.argsort(tau_mean, kind="stable")
            self.line_ = self.ax_.plot(tau_mean[by_tau], mean[by_tau], marker="o", label=name)[0]
            self.scatter_ = self.ax_.scatter(
                tau.ravel(), scores.ravel(), s=12, alpha=0.4, color=self.line_.get_color()
            )
            xlabel = "Kendall tau with the original order"
        else:
            self.line_, self.fill_ = _mean_band(self.ax_, self.n_swaps, mean, std, name)
            xlabel = "number of swapped pairs"
        self.baseline_line_ = _baseline(self.ax_, self.baseline_score, self.line_)
        _label_axes(
            self.ax_,
            xlabel=xlabel,
            ylabel=self.score_name or "score",
            title="blocks reordered (dashed: original order)",
            name=name,
            integer_x=x == "n_swaps",
        )
        _set_title(self.figure_, title, ax, _title(name))
        return self

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        n_swaps=None,
        n_repeats=5,
        scoring=None,
        random_state=None,
        x="kendall_tau",
        name=None,
        ax=None,
        title=None,
    ):
        """Run :func:`reorder_study` and plot it.

        Parameters
        ----------
        estimator : estimator
            A fitted estimator of sklearn_resboost.
        X : array-like of shape (n_samples, n_features)
            Evaluation data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets of ``X``.
        n_swaps : int or array-like of int, default=None
            Numbers of swaps, in [0, inf); ``None`` means 0 to ``n_blocks``.
        n_repeats : int, default=5
            Reorderings per number of swaps, in [1, inf).
        scoring : str, callable or None, default=None
            Score, as in :func:`lesion_study`.
        random_state : int, RandomState instance or None, default=None
            Draws the swapped pairs.
        x : {"kendall_tau", "n_swaps"}, default="kendall_tau"
            Horizontal axis, as in :meth:`plot`.
        name : str, default=None
            Legend label; ``None`` uses the estimator's class name.
        ax : matplotlib Axes, default=None
            Axes to draw on.
        title : str, default=None
            Title of the figure; ``None`` writes the estimator's class name,
            its number of blocks and the number of samples of ``X`` on a new
            figure and leaves the title of ``ax``'s figure alone; ``""``
            writes none.

        Returns
        -------
        display : ReorderDisplay
            The plotted display.
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        _check_option(x, "x", cls._x_options)
        result = reorder_study(
            estimator,
            X,
            y,
            n_swaps=n_swaps,
            n_repeats=n_repeats,
            scoring=scoring,
            random_state=random_state,
        )
        title = _estimator_title(title, ax, estimator, result.orders.shape[2], X)
        display = cls(
            baseline_score=result.baseline_score,
            n_swaps=result.n_swaps,
            kendall_tau=result.kendall_tau,
            scores=result.scores,
            score_name=score_name(estimator, scoring),
            name=_estimator_name(estimator, name),
        )
        return display.plot(ax=ax, x=x, title=title)
