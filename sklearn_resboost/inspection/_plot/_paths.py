"""The path-length display: how many paths of each length, and how much gradient they carry."""

from sklearn.utils._optional_dependencies import check_matplotlib_support

from .._studies import gradient_by_path_length
from ._common import (
    _check_option,
    _estimator_name,
    _estimator_title,
    _label_axes,
    _panels,
    _set_title,
    _title,
)


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

    _kinds = frozenset({"all", "distribution", "gradient", "effective"})

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

    def _check_panels(self, panels):
        """Raise when a chosen panel needs results of gradient_by_path_length the display lacks."""
        for panel, needed in (
            ("gradient", self.gradient_norms),
            ("effective", self.effective_contribution),
        ):
            if panel in panels and needed is None:
                raise ValueError(
                    f"The {panel!r} panel needs the results of gradient_by_path_length; "
                    "build the display with PathLengthDisplay.from_estimator."
                )

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
        self._check_panels(panels)
        self.axes_, self.figure_ = _panels(ax, len(panels), f"{type(self).__name__}.plot")
        name = self.name if name is None else name
        self.distribution_line_ = self.gradient_line_ = None
        self.effective_line_ = self.effective_span_ = None
        for axis, panel in zip(self.axes_, panels):
            if panel == "distribution":
                self.distribution_line_ = axis.plot(
                    self.path_lengths, self.path_fraction, marker=".", label=name
                )[0]
                ylabel = "share of all paths"
                panel_title = "path lengths"
            elif panel == "gradient":
                self.gradient_line_ = axis.plot(
                    self.path_lengths, self.gradient_norms, marker=".", label=name
                )[0]
                axis.set_yscale("log")
                ylabel = "gradient norm at g_0"
                panel_title = "gradient of one path"
            else:
                self.effective_line_ = axis.plot(
                    self.path_lengths, self.effective_contribution, marker=".", label=name
                )[0]
                if self.effective_range is not None:
                    lo, hi = self.effective_range
                    self.effective_span_ = axis.axvspan(
                        lo - 0.5, hi + 0.5, alpha=0.15, color=self.effective_line_.get_color()
                    )
                ylabel = "share of the total gradient"
                panel_title = "effective paths (shaded: most gradient)"
            _label_axes(
                axis,
                xlabel="path length (blocks)",
                ylabel=ylabel,
                title=panel_title,
                name=name,
                integer_x=True,
            )
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
        title = _estimator_title(title, ax, estimator, result.path_lengths[-1], X)
        display = cls(
            path_lengths=result.path_lengths,
            path_fraction=result.path_fraction,
            gradient_norms=result.gradient_norms,
            effective_contribution=result.effective_contribution,
            effective_range=result.effective_range,
            name=_estimator_name(estimator, name),
        )
        return display.plot(ax=ax, kind=kind, title=title)
