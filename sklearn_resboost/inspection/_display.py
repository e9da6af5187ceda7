"""Displays of the ensemble views, in the style of scikit-learn's ``*Display`` classes.

``Display(...)`` stores the arrays of a study; ``plot(ax=None, ...)`` draws them
and stores the matplotlib artists; ``Display.from_estimator(...)`` runs the study
and plots it. matplotlib is imported only when something is drawn.
"""

import math
from numbers import Integral

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils._optional_dependencies import check_matplotlib_support
from sklearn.utils.validation import _num_samples

from ._network import check_network, decomposition, score_name, select_rows
from ._studies import (
    gradient_by_path_length,
    lesion_study,
    reorder_study,
    staged_scores,
)

# Beyond this many stages, only some tick labels are written.
MAX_TICK_LABELS = 16


def _panels(ax, n_panels, caller, panel_size=(4.5, 3.5)):
    """The Axes to draw on: new ones when ``ax`` is None, else ``ax`` checked."""
    check_matplotlib_support(caller)
    import matplotlib.pyplot as plt

    if ax is None:
        figure, axes = plt.subplots(
            1,
            n_panels,
            figsize=(panel_size[0] * n_panels, panel_size[1]),
            squeeze=False,
            layout="constrained",
        )
        return axes.ravel(), figure
    axes = np.empty(1, dtype=object)
    axes[0] = ax
    if isinstance(ax, (list, tuple, np.ndarray)):
        axes = np.asarray(ax, dtype=object).ravel()
    if axes.size != n_panels:
        raise ValueError(f"ax must hold {n_panels} matplotlib Axes here; got {axes.size}.")
    return axes, axes[0].figure


def _integer_ticks(axis):
    """Tick a count axis at whole numbers only; matplotlib's default puts some halfway."""
    from matplotlib.ticker import MaxNLocator

    axis.xaxis.set_major_locator(MaxNLocator(integer=True))


def _title(name, n_blocks=None, n_samples=None):
    """Figure title: the model, its number of blocks and the data, as far as known."""
    facts = [name] if name else []
    if n_blocks is not None:
        facts.append(f"{n_blocks} block{'s' if n_blocks != 1 else ''}")
    if n_samples is not None:
        facts.append(f"on {n_samples} samples")
    return ", ".join(facts)


def _set_title(figure, title, ax, default):
    """Title ``figure`` with ``title``; with ``default`` only on a figure the display made.

    On axes the caller passed, the figure may hold other models (a second
    display drawn on the first one's axes) and keeps its title.
    """
    if title is None and ax is None:
        title = default
    if title:
        figure.suptitle(title)


def _check_option(value, name, options):
    if value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}; got {value!r}.")


class StagedScoresDisplay:
    """Score of each stage's head: the ensemble after ``t`` blocks.

    Build it with :meth:`from_estimator`, or from the output of
    :func:`staged_scores`.

    Parameters
    ----------
    stages : ndarray of shape (n_stages,)
        Number of blocks under each head, ``0, ..., T``.
    scores : ndarray of shape (n_stages,)
        Score of each stage.
    score_name : str, default=None
        Label of the score axis; ``None`` writes "score".
    name : str, default=None
        Legend label of the curve; ``None`` draws no legend.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The curve.
    ax_ : matplotlib Axes
        Axes with the curve.
    figure_ : matplotlib Figure
        Figure holding ``ax_``.

    See Also
    --------
    staged_scores : The study.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import make_classification
    >>> from sklearn_resboost import BoostResNetClassifier
    >>> from sklearn_resboost.inspection import StagedScoresDisplay
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> clf = BoostResNetClassifier(n_estimators=4, epochs_per_block=2, width=16,
    ...                             hidden_size=16, random_state=0).fit(X, y)
    >>> display = StagedScoresDisplay.from_estimator(clf, X, y)
    >>> display.line_.get_xdata().tolist()
    [0, 1, 2, 3, 4]
    """

    def __init__(self, *, stages, scores, score_name=None, name=None):
        self.stages = stages
        self.scores = scores
        self.score_name = score_name
        self.name = name

    def plot(self, ax=None, *, name=None, title=None, **kwargs):
        """Draw the score of each stage.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` makes a new figure.
        name : str, default=None
            Legend label; ``None`` uses ``self.name``.
        title : str, default=None
            Title of the figure; ``None`` writes the legend label and the
            number of blocks on a new figure and leaves the title of ``ax``'s
            figure alone; ``""`` writes none.
        **kwargs : dict
            Passed to ``Axes.plot``.

        Returns
        -------
        display : StagedScoresDisplay
            The display, with the artists stored.
        """
        axes, self.figure_ = _panels(ax, 1, f"{type(self).__name__}.plot")
        self.ax_ = axes[0]
        name = self.name if name is None else name
        self.line_ = self.ax_.plot(
            self.stages, self.scores, **{"marker": "o", "label": name, **kwargs}
        )[0]
        self.ax_.set_xlabel("blocks under the head (stage t)")
        _integer_ticks(self.ax_)
        self.ax_.set_ylabel(self.score_name or "score")
        _set_title(self.figure_, title, ax, _title(name, self.stages[-1]))
        if name is not None:
            self.ax_.legend()
        return self

    @classmethod
    def from_estimator(
        cls, estimator, X, y, *, scoring=None, name=None, ax=None, title=None, **kwargs
    ):
        """Score every stage of ``estimator`` on ``(X, y)`` and plot it.

        Parameters
        ----------
        estimator : estimator
            A fitted estimator of sklearn_resboost with one head per stage.
        X : array-like of shape (n_samples, n_features)
            Evaluation data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets of ``X``.
        scoring : str, callable or None, default=None
            Score, as in :func:`lesion_study`.
        name : str, default=None
            Legend label; ``None`` uses the estimator's class name.
        ax : matplotlib Axes, default=None
            Axes to draw on.
        title : str, default=None
            Title of the figure; ``None`` writes the estimator's class name,
            its number of blocks and the number of samples of ``X`` on a new
            figure and leaves the title of ``ax``'s figure alone; ``""``
            writes none.
        **kwargs : dict
            Passed to ``Axes.plot``.

        Returns
        -------
        display : StagedScoresDisplay
            The plotted display.
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        result = staged_scores(estimator, X, y, scoring=scoring)
        if title is None and ax is None:
            title = _title(type(estimator).__name__, result.stages[-1], _num_samples(X))
        display = cls(
            stages=result.stages,
            scores=result.scores,
            score_name=score_name(estimator, scoring),
            name=type(estimator).__name__ if name is None else name,
        )
        return display.plot(ax=ax, title=title, **kwargs)


class LesionDisplay:
    """Score of the network with one block, or ``k`` random blocks, deleted.

    Build it with :meth:`from_estimator`, or from the output of
    :func:`lesion_study`. Call :meth:`plot` of a second display with
    ``ax=first.axes_`` to compare two networks on the same axes.

    Parameters
    ----------
    baseline_score : float
        Score of the intact network.
    single_scores : ndarray of shape (n_blocks,)
        Score with each single block deleted.
    n_deleted : ndarray of shape (n_counts,)
        Numbers of randomly deleted blocks.
    scores_mean, scores_std : ndarray of shape (n_counts,)
        Mean and standard deviation of the score for each number.
    score_name : str, default=None
        Label of the score axis; ``None`` writes "score".
    name : str, default=None
        Legend label; ``None`` draws no legend.

    Attributes
    ----------
    axes_ : ndarray of matplotlib Axes
        The panels: single deletions, then k deletions (as chosen by ``kind``).
    figure_ : matplotlib Figure
        Figure holding the axes.
    single_line_, baseline_line_ : matplotlib Line2D or None
        Single-deletion curve and the intact network's score (when drawn).
    deletion_line_ : matplotlib Line2D or None
        Mean score against the number of deleted blocks (when drawn).
    deletion_fill_ : matplotlib PolyCollection or None
        The band of one standard deviation around it.

    See Also
    --------
    lesion_study : The study.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import make_classification
    >>> from sklearn_resboost import BoostResNetClassifier
    >>> from sklearn_resboost.inspection import LesionDisplay
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> clf = BoostResNetClassifier(n_estimators=4, epochs_per_block=2, width=16,
    ...                             hidden_size=16, random_state=0).fit(X, y)
    >>> display = LesionDisplay.from_estimator(clf, X, y, n_repeats=2, random_state=0)
    >>> display.axes_.shape
    (2,)
    """

    def __init__(
        self,
        *,
        baseline_score,
        single_scores,
        n_deleted,
        scores_mean,
        scores_std,
        score_name=None,
        name=None,
    ):
        self.baseline_score = baseline_score
        self.single_scores = single_scores
        self.n_deleted = n_deleted
        self.scores_mean = scores_mean
        self.scores_std = scores_std
        self.score_name = score_name
        self.name = name

    def plot(self, ax=None, *, kind="both", name=None, title=None):
        """Draw the lesion curves.

        Parameters
        ----------
        ax : matplotlib Axes or array-like of Axes, default=None
            One Axes per panel (2 for ``kind="both"``); ``None`` makes a new
            figure.
        kind : {"both", "single", "multiple"}, default="both"
            ``"single"``: score with each block deleted, the blocks numbered
            from 1; ``"multiple"``: mean ± std score against the number of
            deleted blocks.
        name : str, default=None
            Legend label; ``None`` uses ``self.name``.
        title : str, default=None
            Title of the figure; ``None`` writes the legend label and the
            number of blocks on a new figure and leaves the title of ``ax``'s
            figure alone; ``""`` writes none.

        Returns
        -------
        display : LesionDisplay
            The display, with the artists stored.
        """
        _check_option(kind, "kind", {"both", "single", "multiple"})
        panels = ["single", "multiple"] if kind == "both" else [kind]
        self.axes_, self.figure_ = _panels(ax, len(panels), f"{type(self).__name__}.plot")
        name = self.name if name is None else name
        label = self.score_name or "score"
        self.single_line_ = self.baseline_line_ = None
        self.deletion_line_ = self.deletion_fill_ = None
        for axis, panel in zip(self.axes_, panels):
            if panel == "single":
                # Numbered from 1, as the bars of DecompositionDisplay.
                blocks = np.arange(1, len(self.single_scores) + 1)
                self.single_line_ = axis.plot(blocks, self.single_scores, marker="o", label=name)[0]
                self.baseline_line_ = axis.axhline(
                    self.baseline_score,
                    linestyle="--",
                    color=self.single_line_.get_color(),
                    linewidth=1,
                )
                axis.set_xlabel("deleted block")
                axis.set_title("one block deleted (dashed: intact)")
            else:
                mean = np.asarray(self.scores_mean)
                std = np.asarray(self.scores_std)
                self.deletion_line_ = axis.plot(self.n_deleted, mean, marker="o", label=name)[0]
                self.deletion_fill_ = axis.fill_between(
                    self.n_deleted,
                    mean - std,
                    mean + std,
                    alpha=0.2,
                    color=self.deletion_line_.get_color(),
                )
                axis.set_xlabel("number of deleted blocks")
                axis.set_title("random blocks deleted (mean ± std)")
            _integer_ticks(axis)
            axis.set_ylabel(label)
            if name is not None:
                axis.legend()
        _set_title(self.figure_, title, ax, _title(name, len(self.single_scores)))
        return self

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        n_deleted=None,
        n_repeats=5,
        scoring=None,
        random_state=None,
        kind="both",
        name=None,
        ax=None,
        title=None,
    ):
        """Run :func:`lesion_study` and plot it.

        Parameters
        ----------
        estimator : estimator
            A fitted estimator of sklearn_resboost.
        X : array-like of shape (n_samples, n_features)
            Evaluation data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets of ``X``.
        n_deleted : int or array-like of int, default=None
            Numbers of deleted blocks, in [0, n_blocks]; ``None`` means all.
        n_repeats : int, default=5
            Random deletions per number, in [1, inf).
        scoring : str, callable or None, default=None
            Score, as in :func:`lesion_study`.
        random_state : int, RandomState instance or None, default=None
            Draws the deleted sets.
        kind : {"both", "single", "multiple"}, default="both"
            Panels to draw, as in :meth:`plot`.
        name : str, default=None
            Legend label; ``None`` uses the estimator's class name.
        ax : matplotlib Axes or array-like of Axes, default=None
            Axes to draw on.
        title : str, default=None
            Title of the figure; ``None`` writes the estimator's class name,
            its number of blocks and the number of samples of ``X`` on a new
            figure and leaves the title of ``ax``'s figure alone; ``""``
            writes none.

        Returns
        -------
        display : LesionDisplay
            The plotted display.
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        _check_option(kind, "kind", {"both", "single", "multiple"})
        result = lesion_study(
            estimator,
            X,
            y,
            n_deleted=n_deleted,
            n_repeats=n_repeats,
            scoring=scoring,
            random_state=random_state,
        )
        if title is None and ax is None:
            title = _title(type(estimator).__name__, len(result.single_scores), _num_samples(X))
        display = cls(
            baseline_score=result.baseline_score,
            single_scores=result.single_scores,
            n_deleted=result.n_deleted,
            scores_mean=result.scores_mean,
            scores_std=result.scores_std,
            score_name=score_name(estimator, scoring),
            name=type(estimator).__name__ if name is None else name,
        )
        return display.plot(ax=ax, kind=kind, title=title)


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
        _check_option(x, "x", {"kendall_tau", "n_swaps"})
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
            self.ax_.set_xlabel("Kendall tau with the original order")
        else:
            self.line_ = self.ax_.plot(self.n_swaps, mean, marker="o", label=name)[0]
            self.fill_ = self.ax_.fill_between(
                self.n_swaps, mean - std, mean + std, alpha=0.2, color=self.line_.get_color()
            )
            self.ax_.set_xlabel("number of swapped pairs")
            _integer_ticks(self.ax_)
        self.baseline_line_ = self.ax_.axhline(
            self.baseline_score, linestyle="--", linewidth=1, color=self.line_.get_color()
        )
        self.ax_.set_ylabel(self.score_name or "score")
        self.ax_.set_title("blocks reordered (dashed: original order)")
        if name is not None:
            self.ax_.legend()
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
        _check_option(x, "x", {"kendall_tau", "n_swaps"})
        result = reorder_study(
            estimator,
            X,
            y,
            n_swaps=n_swaps,
            n_repeats=n_repeats,
            scoring=scoring,
            random_state=random_state,
        )
        if title is None and ax is None:
            title = _title(type(estimator).__name__, result.orders.shape[2], _num_samples(X))
        display = cls(
            baseline_score=result.baseline_score,
            n_swaps=result.n_swaps,
            kendall_tau=result.kendall_tau,
            scores=result.scores,
            score_name=score_name(estimator, scoring),
            name=type(estimator).__name__ if name is None else name,
        )
        return display.plot(ax=ax, x=x, title=title)


class PathLengthDisplay:
    """The unraveled view: how many paths of each length, and how much gradient they carry.

    Build it with :meth:`from_estimator`, from the output of
    :func:`gradient_by_path_length`, or, for the distribution alone, from
    :func:`path_length_distribution`.

    Parameters
    ----------
    path_lengths : ndarray of shape (n_blocks + 1,)
        ``0, ..., T``.
    path_fraction : ndarray of shape (n_blocks + 1,)
        Share of the ``2^T`` paths having each length.
    gradient_norms : ndarray of shape (n_blocks + 1,), default=None
        Mean gradient norm of a path of each length; needed by the
        ``"gradient"`` panel.
    effective_contribution : ndarray of shape (n_blocks + 1,), default=None
        Share of the total gradient carried by each length; needed by the
        ``"effective"`` panel.
    effective_range : array-like of shape (2,), default=None
        Lengths ``[lo, hi]`` carrying most of the gradient, shaded in the
        ``"effective"`` panel.
    name : str, default=None
        Legend label; ``None`` draws no legend.

    Attributes
    ----------
    axes_ : ndarray of matplotlib Axes
        The panels drawn, in the order distribution, gradient, effective.
    figure_ : matplotlib Figure
        Figure holding the axes.
    distribution_line_, gradient_line_, effective_line_ : matplotlib Line2D or None
        The curves drawn.
    effective_span_ : matplotlib Polygon or None
        The shaded effective range.

    See Also
    --------
    gradient_by_path_length : The gradient study.
    path_length_distribution : The path counts.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_resboost.inspection import PathLengthDisplay, path_length_distribution
    >>> result = path_length_distribution(10)
    >>> display = PathLengthDisplay(
    ...     path_lengths=result.path_lengths, path_fraction=result.path_fraction
    ... ).plot(kind="distribution")
    >>> display.axes_.shape
    (1,)
    """

    _kinds = {"all", "distribution", "gradient", "effective"}

    def __init__(
        self,
        *,
        path_lengths,
        path_fraction,
        gradient_norms=None,
        effective_contribution=None,
        effective_range=None,
        name=None,
    ):
        self.path_lengths = path_lengths
        self.path_fraction = path_fraction
        self.gradient_norms = gradient_norms
        self.effective_contribution = effective_contribution
        self.effective_range = effective_range
        self.name = name

    def plot(self, ax=None, *, kind="all", name=None, title=None):
        """Draw the path-length views.

        Parameters
        ----------
        ax : matplotlib Axes or array-like of Axes, default=None
            One Axes per panel (3 for ``kind="all"``); ``None`` makes a new
            figure.
        kind : {"all", "distribution", "gradient", "effective"}, default="all"
            ``"distribution"``: share of paths of each length;
            ``"gradient"``: gradient norm of a path of each length (log
            scale); ``"effective"``: share of the total gradient each length
            carries.
        name : str, default=None
            Legend label; ``None`` uses ``self.name``.
        title : str, default=None
            Title of the figure; ``None`` writes the legend label and the
            number of blocks on a new figure and leaves the title of ``ax``'s
            figure alone; ``""`` writes none.

        Returns
        -------
        display : PathLengthDisplay
            The display, with the artists stored.
        """
        _check_option(kind, "kind", self._kinds)
        panels = ["distribution", "gradient", "effective"] if kind == "all" else [kind]
        for panel, needed in (
            ("gradient", self.gradient_norms),
            ("effective", self.effective_contribution),
        ):
            if panel in panels and needed is None:
                raise ValueError(
                    f"The {panel!r} panel needs the results of gradient_by_path_length; "
                    "build the display with PathLengthDisplay.from_estimator."
                )
        self.axes_, self.figure_ = _panels(ax, len(panels), f"{type(self).__name__}.plot")
        name = self.name if name is None else name
        self.distribution_line_ = self.gradient_line_ = None
        self.effective_line_ = self.effective_span_ = None
        for axis, panel in zip(self.axes_, panels):
            if panel == "distribution":
                self.distribution_line_ = axis.plot(
                    self.path_lengths, self.path_fraction, marker=".", label=name
                )[0]
                axis.set_ylabel("share of all paths")
                axis.set_title("path lengths")
            elif panel == "gradient":
                self.gradient_line_ = axis.plot(
                    self.path_lengths, self.gradient_norms, marker=".", label=name
                )[0]
                axis.set_yscale("log")
                axis.set_ylabel("gradient norm at g_0")
                axis.set_title("gradient of one path")
            else:
                self.effective_line_ = axis.plot(
                    self.path_lengths, self.effective_contribution, marker=".", label=name
                )[0]
                if self.effective_range is not None:
                    lo, hi = self.effective_range
                    self.effective_span_ = axis.axvspan(
                        lo - 0.5, hi + 0.5, alpha=0.15, color=self.effective_line_.get_color()
                    )
                axis.set_ylabel("share of the total gradient")
                axis.set_title("effective paths (shaded: most gradient)")
            axis.set_xlabel("path length (blocks)")
            _integer_ticks(axis)
            if name is not None:
                axis.legend()
        _set_title(self.figure_, title, ax, _title(name, self.path_lengths[-1]))
        return self

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        n_samples=10,
        coverage=0.9,
        random_state=None,
        kind="all",
        name=None,
        ax=None,
        title=None,
    ):
        """Run :func:`gradient_by_path_length` and plot it.

        Parameters
        ----------
        estimator : estimator
            A fitted estimator of sklearn_resboost with skip connections.
        X : array-like of shape (n_samples, n_features)
            Data the gradients are measured on.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets of ``X``.
        n_samples : int, default=10
            Sampled sets of blocks per path length, in [1, inf).
        coverage : float, default=0.9
            Share of the gradient the shaded range covers, in (0, 1].
        random_state : int, RandomState instance or None, default=None
            Draws the sets of blocks.
        kind : {"all", "distribution", "gradient", "effective"}, default="all"
            Panels to draw, as in :meth:`plot`.
        name : str, default=None
            Legend label; ``None`` uses the estimator's class name.
        ax : matplotlib Axes or array-like of Axes, default=None
            Axes to draw on.
        title : str, default=None
            Title of the figure; ``None`` writes the estimator's class name,
            its number of blocks and the number of samples of ``X`` on a new
            figure and leaves the title of ``ax``'s figure alone; ``""``
            writes none.

        Returns
        -------
        display : PathLengthDisplay
            The plotted display.
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        _check_option(kind, "kind", cls._kinds)
        result = gradient_by_path_length(
            estimator, X, y, n_samples=n_samples, coverage=coverage, random_state=random_state
        )
        if title is None and ax is None:
            title = _title(type(estimator).__name__, result.path_lengths[-1], _num_samples(X))
        display = cls(
            path_lengths=result.path_lengths,
            path_fraction=result.path_fraction,
            gradient_norms=result.gradient_norms,
            effective_contribution=result.effective_contribution,
            effective_range=result.effective_range,
            name=type(estimator).__name__ if name is None else name,
        )
        return display.plot(ax=ax, kind=kind, title=title)


class DecompositionDisplay:
    """Waterfall of the per-stage contributions to the scores of chosen samples.

    ``kind="hypothesis"`` is the boosting view: the prior, then each round's
    weak hypothesis ``h_t = z_{t+1} - z_t``. ``kind="feature"`` is the ResNet
    view: ``b_T + W_T g_0`` (the stem), then each block's share
    ``W_T (g_{t+1} - g_t)`` through the final head. Either way the bars add up
    to the final score, drawn as the last bar.

    Parameters
    ----------
    contributions : ndarray of shape (n_blocks + 1, n_selected)
        Contribution of each stage to the chosen score of each sample.
    kind : {"hypothesis", "feature"}
        Which decomposition the contributions are.
    sample_index : ndarray of shape (n_selected,)
        Row of each sample in the data, for the titles.
    score_labels : list of str
        What score each sample's waterfall decomposes.

    Attributes
    ----------
    axes_ : ndarray of matplotlib Axes
        One panel per sample.
    figure_ : matplotlib Figure
        Figure holding the axes.
    bars_ : list of matplotlib BarContainer
        The contribution bars of each panel.
    total_bars_ : list of matplotlib BarContainer
        The final-score bar of each panel.

    See Also
    --------
    sklearn_resboost.BoostResNetClassifier.hypothesis_ensemble : The boosting view.
    sklearn_resboost.BoostResNetClassifier.feature_ensemble : The ResNet view.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import make_classification
    >>> from sklearn_resboost import BoostResNetClassifier
    >>> from sklearn_resboost.inspection import DecompositionDisplay
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> clf = BoostResNetClassifier(n_estimators=4, epochs_per_block=2, width=16,
    ...                             hidden_size=16, random_state=0).fit(X, y)
    >>> display = DecompositionDisplay.from_estimator(clf, X, sample_index=[0, 1])
    >>> display.axes_.shape
    (2,)
    """

    def __init__(self, *, contributions, kind, sample_index, score_labels):
        self.contributions = contributions
        self.kind = kind
        self.sample_index = sample_index
        self.score_labels = score_labels

    def _stage_labels(self):
        first = "prior" if self.kind == "hypothesis" else "stem"
        n_blocks = len(self.contributions) - 1
        return [first, *(f"block {t}" for t in range(1, n_blocks + 1)), "total"]

    def plot(self, ax=None, *, title=None):
        """Draw one waterfall per sample.

        The bars are labelled "prior" (``kind="hypothesis"``) or "stem"
        (``kind="feature"``), then "block 1" to "block T", then "total".

        Parameters
        ----------
        ax : matplotlib Axes or array-like of Axes, default=None
            One Axes per sample; ``None`` makes a new figure.
        title : str, default=None
            Title of the figure; ``None`` writes the number of blocks on a new
            figure and leaves the title of ``ax``'s figure alone; ``""``
            writes none.

        Returns
        -------
        display : DecompositionDisplay
            The display, with the artists stored.
        """
        _check_option(self.kind, "kind", {"hypothesis", "feature"})
        contributions = np.asarray(self.contributions, dtype=float)
        n_selected = contributions.shape[1]
        self.axes_, self.figure_ = _panels(ax, n_selected, f"{type(self).__name__}.plot")
        labels = self._stage_labels()
        positions = np.arange(len(labels))
        step = max(1, math.ceil(len(labels) / MAX_TICK_LABELS))
        # Every step-th label, then "total" with none in the step before it to overlap.
        shown = [*range(0, len(labels) - step, step), len(labels) - 1]
        self.bars_, self.total_bars_ = [], []
        for i, axis in enumerate(self.axes_):
            values = contributions[:, i]
            ends = np.cumsum(values)
            colors = np.where(values >= 0, "tab:green", "tab:red")
            self.bars_.append(axis.bar(positions[:-1], values, bottom=ends - values, color=colors))
            self.total_bars_.append(axis.bar(positions[-1:], ends[-1:], color="tab:gray"))
            axis.axhline(0, color="black", linewidth=0.8)
            # Anchored at their right end, the slanted labels end under their bars.
            axis.set_xticks(
                positions[shown],
                [labels[j] for j in shown],
                rotation=45,
                ha="right",
                rotation_mode="anchor",
            )
            axis.set_xlabel(
                "prior, then each round's weak hypothesis"
                if self.kind == "hypothesis"
                else "stem, then each block's share"
            )
            axis.set_ylabel(self.score_labels[i])
            axis.set_title(f"sample {self.sample_index[i]} ({self.kind} ensemble)")
        _set_title(self.figure_, title, ax, _title(None, len(contributions) - 1))
        return self

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        *,
        kind="hypothesis",
        sample_index=0,
        class_index=None,
        ax=None,
        title=None,
    ):
        """Decompose the scores of chosen rows of ``X`` and plot them.

        Uses the estimator's ``hypothesis_ensemble`` / ``feature_ensemble``
        when it has them, and computes them from ``module_`` otherwise (the
        hypothesis view needs one head per stage).

        Parameters
        ----------
        estimator : estimator
            A fitted estimator of sklearn_resboost.
        X : array-like of shape (n_samples, n_features)
            Data holding the samples.
        kind : {"hypothesis", "feature"}, default="hypothesis"
            Which decomposition to draw.
        sample_index : int or array-like of int, default=0
            Rows of ``X`` to decompose, each in [0, n_samples); one panel each.
        class_index : int, default=None
            For several scores per sample (multiclass, multi-output
            regression), the column to decompose, in [0, K). ``None`` picks
            each sample's predicted class for a classifier; it is required for
            a multi-output regressor.
        ax : matplotlib Axes or array-like of Axes, default=None
            One Axes per sample.
        title : str, default=None
            Title of the figure; ``None`` writes the estimator's class name
            and its number of blocks on a new figure and leaves the title of
            ``ax``'s figure alone; ``""`` writes none.

        Returns
        -------
        display : DecompositionDisplay
            The plotted display.
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        _check_option(kind, "kind", {"hypothesis", "feature"})
        check_network(estimator)
        n_rows = _num_samples(X)
        rows = np.atleast_1d(np.asarray(sample_index))
        if (
            rows.ndim != 1
            or rows.size == 0
            or not all(isinstance(v, Integral) for v in rows.tolist())
            or rows.dtype == bool
        ):
            raise TypeError(
                f"sample_index must be an int or a 1-D array of ints; got {sample_index!r}."
            )
        if ((rows < 0) | (rows >= n_rows)).any():
            raise ValueError(
                f"sample_index must hold row numbers in [0, {n_rows}); got {rows.tolist()}."
            )
        contributions = decomposition(estimator, select_rows(X, rows), kind)
        n_scores = contributions.shape[2]
        classifier = is_classifier(estimator)
        if n_scores == 1:
            columns = np.zeros(len(rows), dtype=int)
            if classifier:
                labels = [f"score (> 0: class {estimator.classes_[1]})"] * len(rows)
            else:
                labels = ["prediction"] * len(rows)
        else:
            if class_index is None:
                if not classifier:
                    raise ValueError(
                        f"The regressor has {n_scores} outputs; pass class_index to "
                        "choose the one to decompose."
                    )
                columns = contributions.sum(axis=0).argmax(axis=1)
            elif not isinstance(class_index, Integral) or not 0 <= class_index < n_scores:
                raise ValueError(
                    f"class_index must be an int in [0, {n_scores}); got {class_index!r}."
                )
            else:
                columns = np.full(len(rows), class_index)
            if classifier:
                labels = [f"score of class {estimator.classes_[c]}" for c in columns]
            else:
                labels = [f"prediction of output {c}" for c in columns]
        selected = contributions[:, np.arange(len(rows)), columns]
        if title is None and ax is None:
            title = _title(type(estimator).__name__, len(selected) - 1)
        display = cls(contributions=selected, kind=kind, sample_index=rows, score_labels=labels)
        return display.plot(ax=ax, title=title)
