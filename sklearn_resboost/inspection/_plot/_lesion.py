"""The lesion display: the score of the network with one block, or several, deleted."""

import numpy as np
from sklearn.utils._optional_dependencies import check_matplotlib_support

from .._network import score_name
from .._studies import lesion_study
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

    _kinds = frozenset({"both", "single", "multiple"})

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
        _check_option(kind, "kind", self._kinds)
        panels = ["single", "multiple"] if kind == "both" else [kind]
        self.axes_, self.figure_ = _panels(ax, len(panels), f"{type(self).__name__}.plot")
        name = self.name if name is None else name
        self.single_line_ = self.baseline_line_ = None
        self.deletion_line_ = self.deletion_fill_ = None
        for axis, panel in zip(self.axes_, panels):
            if panel == "single":
                # Numbered from 1, as the bars of DecompositionDisplay.
                blocks = np.arange(1, len(self.single_scores) + 1)
                self.single_line_ = axis.plot(blocks, self.single_scores, marker="o", label=name)[0]
                self.baseline_line_ = _baseline(axis, self.baseline_score, self.single_line_)
                xlabel = "deleted block"
                panel_title = "one block deleted (dashed: intact)"
            else:
                self.deletion_line_, self.deletion_fill_ = _mean_band(
                    axis, self.n_deleted, self.scores_mean, self.scores_std, name
                )
                xlabel = "number of deleted blocks"
                panel_title = "random blocks deleted (mean ± std)"
            _label_axes(
                axis,
                xlabel=xlabel,
                ylabel=self.score_name or "score",
                title=panel_title,
                name=name,
                integer_x=True,
            )
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
        _check_option(kind, "kind", cls._kinds)
        result = lesion_study(
            estimator,
            X,
            y,
            n_deleted=n_deleted,
            n_repeats=n_repeats,
            scoring=scoring,
            random_state=random_state,
        )
        title = _estimator_title(title, ax, estimator, len(result.single_scores), X)
        display = cls(
            baseline_score=result.baseline_score,
            single_scores=result.single_scores,
            n_deleted=result.n_deleted,
            scores_mean=result.scores_mean,
            scores_std=result.scores_std,
            score_name=score_name(estimator, scoring),
            name=_estimator_name(estimator, name),
        )
        return display.plot(ax=ax, kind=kind, title=title)
