"""What every display does alike: axes, labels, titles and argument checks.

The displays draw different studies but set up their figures the same way;
the shared steps live here, so that they read and look the same everywhere.
"""

import numpy as np
from sklearn.utils._optional_dependencies import check_matplotlib_support
from sklearn.utils.validation import _num_samples


def _check_option(value, name, options):
    """Raise a ValueError naming the options when ``value`` is none of them."""
    if value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}; got {value!r}.")


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


def _label_axes(axis, *, xlabel, ylabel, title=None, name=None, integer_x=False):
    """Label one panel; a named curve gets a legend, a count axis whole-number ticks."""
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    if title is not None:
        axis.set_title(title)
    if integer_x:
        _integer_ticks(axis)
    if name is not None:
        axis.legend()


def _mean_band(axis, x, mean, std, name):
    """The mean curve and a band of one standard deviation around it, in its colour."""
    mean, std = np.asarray(mean), np.asarray(std)
    line = axis.plot(x, mean, marker="o", label=name)[0]
    fill = axis.fill_between(x, mean - std, mean + std, alpha=0.2, color=line.get_color())
    return line, fill


def _baseline(axis, score, line):
    """The score of the unaltered network: dashed, in the colour of the curve it compares to."""
    return axis.axhline(score, linestyle="--", linewidth=1, color=line.get_color())


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


def _estimator_title(title, ax, estimator, n_blocks, X=None):
    """``title``, or on a new figure the estimator's class name, blocks and samples of ``X``.

    ``from_estimator`` knows the estimator and the data, which ``plot`` does
    not: it writes the fuller default title and passes it on.
    """
    if title is None and ax is None:
        n_samples = None if X is None else _num_samples(X)
        return _title(type(estimator).__name__, n_blocks, n_samples)
    return title


def _estimator_name(estimator, name):
    """Legend label of a display built from ``estimator``: ``name``, else its class name."""
    return type(estimator).__name__ if name is None else name
