"""The staged-scores display: the score of every stage's head against its number of blocks."""

from sklearn.utils._optional_dependencies import check_matplotlib_support

from .._network import score_name
from .._studies import staged_scores
from ._common import _estimator_name, _estimator_title, _label_axes, _panels, _set_title, _title


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
        _label_axes(
            self.ax_,
            xlabel="blocks under the head (stage t)",
            ylabel=self.score_name or "score",
            name=name,
            integer_x=True,
        )
        _set_title(self.figure_, title, ax, _title(name, self.stages[-1]))
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
        title = _estimator_title(title, ax, estimator, result.stages[-1], X)
        display = cls(
            stages=result.stages,
            scores=result.scores,
            score_name=score_name(estimator, scoring),
            name=_estimator_name(estimator, name),
        )
        return display.plot(ax=ax, title=title, **kwargs)
