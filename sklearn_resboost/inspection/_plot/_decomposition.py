"""The decomposition display: waterfalls of the per-stage contributions to chosen scores."""

import math
from numbers import Integral

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils._optional_dependencies import check_matplotlib_support
from sklearn.utils.validation import _num_samples

from .._network import check_network, decomposition, select_rows
from ._common import _check_option, _estimator_title, _label_axes, _panels, _set_title, _title

# Beyond this many stages, only some tick labels are written.
MAX_TICK_LABELS = 16


def _check_sample_index(sample_index, n_rows):
    """The rows ``sample_index`` names: a 1-D array of ints in [0, n_rows)."""
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
    return rows


def _chosen_scores(estimator, contributions, class_index):
    """The score of each sample to decompose, and what it is called.

    Parameters
    ----------
    estimator : estimator
        The fitted estimator the contributions come from.
    contributions : ndarray of shape (n_blocks + 1, n_selected, n_scores)
        Contribution of each stage to each score of each chosen sample.
    class_index : int or None
        Column to decompose; ``None`` picks a classifier's predicted class.

    Returns
    -------
    columns : ndarray of shape (n_selected,)
        Column of each sample's score.
    labels : list of str
        Axis label of each sample's score.
    """
    n_selected, n_scores = contributions.shape[1:]
    classifier = is_classifier(estimator)
    if n_scores == 1:
        columns = np.zeros(n_selected, dtype=int)
        if classifier:
            labels = [f"score (> 0: class {estimator.classes_[1]})"] * n_selected
        else:
            labels = ["prediction"] * n_selected
        return columns, labels
    if class_index is None:
        if not classifier:
            raise ValueError(
                f"The regressor has {n_scores} outputs; pass class_index to "
                "choose the one to decompose."
            )
        columns = contributions.sum(axis=0).argmax(axis=1)
    elif not isinstance(class_index, Integral) or not 0 <= class_index < n_scores:
        raise ValueError(f"class_index must be an int in [0, {n_scores}); got {class_index!r}.")
    else:
        columns = np.full(n_selected, class_index)
    if classifier:
        labels = [f"score of class {estimator.classes_[c]}" for c in columns]
    else:
        labels = [f"prediction of output {c}" for c in columns]
    return columns, labels


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

    _kinds = frozenset({"hypothesis", "feature"})

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
        _check_option(self.kind, "kind", self._kinds)
        contributions = np.asarray(self.contributions, dtype=float)
        n_selected = contributions.shape[1]
        self.axes_, self.figure_ = _panels(ax, n_selected, f"{type(self).__name__}.plot")
        labels = self._stage_labels()
        positions = np.arange(len(labels))
        step = max(1, math.ceil(len(labels) / MAX_TICK_LABELS))
        # Every step-th label, then "total" with none in the step before it to overlap.
        shown = [*range(0, len(labels) - step, step), len(labels) - 1]
        xlabel = (
            "prior, then each round's weak hypothesis"
            if self.kind == "hypothesis"
            else "stem, then each block's share"
        )
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
            _label_axes(
                axis,
                xlabel=xlabel,
                ylabel=self.score_labels[i],
                title=f"sample {self.sample_index[i]} ({self.kind} ensemble)",
            )
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
        _check_option(kind, "kind", cls._kinds)
        check_network(estimator)
        rows = _check_sample_index(sample_index, _num_samples(X))
        contributions = decomposition(estimator, select_rows(X, rows), kind)
        columns, labels = _chosen_scores(estimator, contributions, class_index)
        selected = contributions[:, np.arange(len(rows)), columns]
        title = _estimator_title(title, ax, estimator, len(selected) - 1)
        display = cls(contributions=selected, kind=kind, sample_index=rows, score_labels=labels)
        return display.plot(ax=ax, title=title)
