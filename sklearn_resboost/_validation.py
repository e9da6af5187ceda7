"""Input checks shared by the estimators: data the networks cannot take is refused clearly.

The networks compute in float32, so on top of scikit-learn's checks
(``validate_data``) the inputs are checked against the float32 range, and
inputs scikit-learn would convert silently or with a cryptic NumPy error
(dates, complex numbers, text, ragged lists) are refused with a message that
names the problem. Sparse matrices are densified up to
:data:`MAX_DENSE_CELLS` cells.
"""

import warnings
from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import DataConversionWarning
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_X_y, validate_data

from . import _tables as tables
from ._modules import STANDARDISED_CLIP
from ._tables import categorical_mask

#: Sparse inputs with at most this many cells (rows x features) are converted
#: to dense arrays, with a :class:`~sklearn.exceptions.DataConversionWarning`;
#: larger ones are refused. 1e8 float64 cells take 800 MB.
MAX_DENSE_CELLS = 100_000_000

#: Largest magnitude a float32 network can take; larger inputs would become inf.
FLOAT32_MAX = float(np.finfo(np.float32).max)

# NumPy's messages when an array cannot be made numeric (text, ragged lists).
_CONVERSION_ERRORS = ("could not convert", "setting an array element", "inhomogeneous")


def python_scalar(value):
    """``value`` as a Python scalar when it is a NumPy one, for error messages.

    NumPy 2 writes ``repr(np.float64(0.0))`` as ``np.float64(0.0)``; messages
    show the value, ``0.0``.
    """
    return value.item() if isinstance(value, np.generic) else value


def _dtypes(X):
    """The column dtypes of a DataFrame, or the dtype of an array; None for other inputs."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None and hasattr(X, "columns"):
        return list(zip(X.columns, dtypes))
    dtype = getattr(X, "dtype", None)
    return None if dtype is None else [(None, dtype)]


def _describe(columns, name):
    named = [str(c) for c in columns if c is not None]
    if named:
        return f"{name} has columns {named[:5]}{' ...' if len(named) > 5 else ''} of"
    return f"{name} has"


def _check_dtypes(X, name, caller):
    """Refuse dates, durations and complex numbers, which NumPy would turn into floats."""
    for kinds, prefix, what, advice in (
        (
            "mM",
            "",
            "dates or durations (datetime64/timedelta64)",
            "convert them to numeric features",
        ),
        # scikit-learn's own wording for complex data.
        ("c", "Complex data not supported: ", "complex numbers", "split real and imaginary parts"),
    ):
        columns = [c for c, dtype in _dtypes(X) or [] if getattr(dtype, "kind", "") in kinds]
        if columns:
            raise ValueError(
                f"{prefix}{_describe(columns, name)} {what}; {caller} needs real numbers: "
                f"{advice}."
            )


def _non_numeric_columns(X):
    """Names (DataFrame) or indices (arrays) of the columns that cannot be made float."""
    dtypes = _dtypes(X)
    if dtypes is not None and dtypes[0][0] is not None:
        return [str(c) for c, dtype in dtypes if getattr(dtype, "kind", "O") not in "biuf"]
    try:
        X = np.asarray(X, dtype=object)
    except ValueError:
        return []
    if X.ndim != 2:
        return []
    bad = []
    for j in range(X.shape[1]):
        try:
            np.asarray(X[:, j], dtype=np.float64)
        except (TypeError, ValueError):
            bad.append(j)
    return bad


def _check_target(y, caller, y_numeric, multi_output):
    if y_numeric:
        values = np.asarray(y)
        if values.dtype.kind not in "biuf":
            try:
                values.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"{caller} needs a numeric y; y has values that are not numbers "
                    f"({exc}). For class labels use a classifier."
                ) from exc
    elif not multi_output:
        shape = np.asarray(y).shape
        if len(shape) == 2 and shape[1] > 1:
            raise ValueError(
                f"{caller} needs a 1-D y of class labels; y has shape {shape} "
                "(multilabel and multi-output targets are not supported)."
            )


def _check_dense_size(X, caller):
    """Refuse a sparse ``X`` too large to densify, before any other work on it."""
    n_cells = int(np.prod(X.shape, dtype=np.float64))
    if n_cells > MAX_DENSE_CELLS:
        raise ValueError(
            f"{caller} needs dense inputs; the sparse X of shape {X.shape} has "
            f"{n_cells:.3g} cells, more than the {MAX_DENSE_CELLS:.0e} it densifies "
            "(MAX_DENSE_CELLS). Reduce the number of features (e.g. TruncatedSVD) or "
            "pass a dense array."
        )


def _densify(X, caller):
    warnings.warn(
        f"{caller} converted the sparse X of shape {X.shape} to a dense array; its "
        "network needs dense inputs.",
        DataConversionWarning,
        stacklevel=4,
    )
    return X.toarray()


def check_float32_range(values, name, caller):
    """Refuse values whose magnitude a float32 network cannot represent."""
    if values.dtype.itemsize <= 4 or values.size == 0:
        return
    # fmax and fmin skip NaN (missing values); they give NaN for an all-missing X.
    largest = max(abs(float(np.fmax.reduce(values, axis=None))),
                  abs(float(np.fmin.reduce(values, axis=None))))
    if np.isnan(largest):
        return
    if largest > FLOAT32_MAX:
        raise ValueError(
            f"Input {name} contains values beyond the float32 range (largest magnitude "
            f"{largest:.3g} > {FLOAT32_MAX:.3g}), which {caller}'s network would turn "
            f"into infinity; rescale {name}."
        )


def _table_state(estimator, X, reset, caller):
    """``(mask, categories, X)``: the categorical mask and categories, learned when ``reset``.

    ``mask`` is None when every column is numeric; otherwise ``X`` comes back
    as :func:`._tables.as_table` gives it.
    """
    if not reset:
        mask = getattr(estimator, "is_categorical_", None)
        if mask is None or not mask.any():
            return None, [], X
        return mask, estimator.categories_, tables.as_table(X)
    shape = X.shape if hasattr(X, "shape") else np.shape(np.asarray(X, dtype=object))
    n_features = shape[1] if len(shape) == 2 else 0
    mask = categorical_mask(X, estimator.categorical_features, n_features, caller)
    estimator.is_categorical_ = mask
    estimator.categories_ = []
    if len(shape) != 2 or not mask.any():
        return None, [], X
    if sp.issparse(X):
        raise ValueError(
            f"{caller} needs a dense X for categorical_features; X is sparse. Pass a "
            "dense array or a DataFrame."
        )
    X = tables.as_table(X)
    estimator.categories_ = tables.learn_categories(X, mask, estimator.min_frequency, caller)
    return mask, estimator.categories_, X


def _check_observed(X, mask, caller):
    """Refuse a column that is entirely missing in ``fit``: the network could learn nothing of it."""
    empty = np.flatnonzero(np.isnan(X).all(axis=0) & ~mask) if X.shape[0] else []
    if len(empty):
        raise ValueError(
            f"{caller}: X has columns {empty.tolist()[:5]} whose values are all missing in "
            "fit; drop them."
        )


def validate_X(estimator, X, y="no_validation", *, reset, **check_params):
    """``validate_data`` with the package's rules; returns ``X`` or ``(X, y)``.

    ``X`` comes back as a dense float32 or float64 array within the float32
    range, missing values as NaN and categorical columns as the codes of
    :mod:`._tables` (with ``reset``, the estimator's ``is_categorical_`` and
    ``categories_`` are learned from ``X``); ``check_params`` go to
    ``validate_data`` (``multi_output``, ``y_numeric``, ...).
    """
    caller = type(estimator).__name__
    if sp.issparse(X):
        _check_dense_size(X, caller)
    _check_dtypes(X, "X", caller)
    if y is not None and not isinstance(y, str):
        _check_target(
            y,
            caller,
            check_params.get("y_numeric", False),
            check_params.get("multi_output", False),
        )
    mask, categories, table = _table_state(estimator, X, reset, caller)
    if mask is not None:
        # Feature names and count; the table is checked column by column.
        validate_data(estimator, X, skip_check_array=True, reset=reset)
        X = tables.encode(table, mask, categories, caller)
    try:
        if mask is None:
            result = validate_data(
                estimator,
                X,
                y,
                reset=reset,
                accept_sparse=True,
                # float32 arrays stay float32; lists, integers and array-likes
                # without a dtype become float64, so that the feature statistics
                # do not depend on the container the data came in.
                dtype=[np.float64, np.float32],
                ensure_all_finite="allow-nan",
                **check_params,
            )
        elif isinstance(y, str) or y is None:
            result = check_array(X, dtype=np.float64, ensure_all_finite="allow-nan",
                                 estimator=estimator)
        else:
            result = check_X_y(X, y, dtype=np.float64, ensure_all_finite="allow-nan",
                               estimator=estimator, **check_params)
    except ValueError as exc:
        if not any(message in str(exc) for message in _CONVERSION_ERRORS):
            raise
        columns = _non_numeric_columns(X)
        where = f" (columns {columns[:5]})" if columns else ""
        raise ValueError(
            f"{caller} needs numeric X; X has values that are not numbers{where}: {exc}. "
            "Declare categorical columns in categorical_features (a DataFrame's object, "
            "string and category columns are categorical by default), or encode them "
            "first."
        ) from exc
    X_checked = result[0] if isinstance(result, tuple) else result
    if sp.issparse(X_checked):
        X_checked = _densify(X_checked, caller)
    check_float32_range(X_checked, "X", caller)
    if reset:
        _check_observed(X_checked, estimator.is_categorical_, caller)
    if isinstance(result, tuple):
        return X_checked, result[1]
    return X_checked


def check_class_labels(y):
    """``check_classification_targets``, with a clear error for labels that cannot be sorted."""
    try:
        check_classification_targets(y)
    except TypeError as exc:
        types = sorted({type(label).__name__ for label in np.asarray(y).tolist()})
        raise TypeError(
            f"y mixes labels of types {types} that cannot be compared; class labels "
            f"must be all numbers or all strings, without missing values ({exc})."
        ) from exc


def check_class_weight(class_weight, classes):
    """Check a ``class_weight`` dict: known labels, finite non-negative weights."""
    unknown = set(class_weight) - set(classes.tolist())
    if unknown:
        raise ValueError(
            f"class_weight has labels {sorted(map(str, unknown))} that are not "
            f"in y's classes {classes.tolist()}."
        )
    bad = {
        python_scalar(label): python_scalar(weight)
        for label, weight in class_weight.items()
        if not isinstance(weight, Real) or not np.isfinite(weight) or weight < 0
    }
    if bad:
        raise ValueError(
            "class_weight must map labels to finite non-negative numbers; got "
            f"{ {k: v for k, v in list(bad.items())[:5]} }."
        )


def weighted_rows(X, y, sample_weight):
    """The rows that carry weight, with the weights scaled so the largest is 1.

    Only relative weights matter, and scaling by the largest keeps them inside
    the float32 range of the training tensors. A weight below float32's
    smallest normal number relative to the largest would train as 0: such rows
    are dropped, so that no minibatch can have a total weight of 0.
    """
    if not (sample_weight > 0).any():
        raise ValueError("sample_weight must have at least one positive entry.")
    sample_weight = sample_weight / sample_weight.max()
    keep = sample_weight >= np.finfo(np.float32).tiny
    return X[keep], y[keep], sample_weight[keep]


def validation_split(estimator, n_samples, auto_samples, stratify, random_state):
    """Training and validation row indices for ``estimator.early_stopping``.

    ``"auto"`` holds out a validation split above ``auto_samples`` rows; without
    early stopping every row trains and the validation indices are None.
    """
    early_stopping = estimator.early_stopping
    if early_stopping == "auto":
        early_stopping = n_samples > auto_samples
    if not early_stopping:
        return np.arange(n_samples), None
    try:
        return train_test_split(
            np.arange(n_samples),
            test_size=estimator.validation_fraction,
            stratify=stratify,
            random_state=random_state,
        )
    except ValueError as exc:
        raise ValueError(
            f"early_stopping needs a validation split of validation_fraction="
            f"{estimator.validation_fraction} of the {n_samples} samples, which failed: "
            f"{str(exc).rstrip('. ')}. Use more samples or early_stopping=False."
        ) from exc


def stem_statistics(X, sample_weight, cards):
    """The stem's per-feature centre and spread, and the frequency of every category code.

    Numeric features: the weighted mean and standard deviation of their
    observed values, in float64 (float32 sums of values near the float32
    limit overflow). A spread below float32's smallest normal number would
    be stored as 0 (or lose its precision): such a feature is constant for
    the network; one beyond the float32 range is capped, so that it is not
    stored as inf. Categorical features get centre 0 and spread 1, and their
    codes' weighted frequencies among the rows, one array over all codes in
    feature order.
    """
    n_features = X.shape[1]
    weight = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight)
    center, spread = np.zeros(n_features), np.ones(n_features)
    frequencies = []
    for j, n_codes in enumerate(cards):
        column = X[:, j]
        if n_codes:
            counts = np.bincount(column.astype(np.int64), weights=weight, minlength=n_codes)
            frequencies.append(counts / counts.sum())
            continue
        observed = ~np.isnan(column)
        if not observed.any():
            # The training rows of a validation split may miss a feature entirely.
            continue
        w, values = weight[observed], column[observed].astype(np.float64)
        mean = np.average(values, weights=w)
        std = np.sqrt(np.average((values - mean) ** 2, weights=w))
        center[j] = mean
        spread[j] = std if std >= np.finfo(np.float32).tiny else 1.0
    spread = np.minimum(spread, FLOAT32_MAX)
    frequency = np.concatenate(frequencies) if frequencies else np.zeros(0)
    return center, spread, frequency


def ple_edges(X, sample_weight, cards, center, scale, n_bins):
    """The bin edges of every feature's piecewise-linear encoding, in standardised units.

    A numeric feature's edges are the weighted quantiles at
    ``linspace(0, 1, n_bins + 1)`` of its observed values, standardised with
    ``center`` and ``scale`` (and clipped) as the stem standardises them;
    equal edges (in float32, as the stem stores them) are merged, so that a
    feature with few distinct values has fewer bins, a constant one none. A
    categorical feature, and one without observed values, gets none. Returns
    one array per feature, as :meth:`Stem.set_normalisation` takes them.
    """
    weight = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight)
    quantiles = np.linspace(0.0, 1.0, n_bins + 1)
    edges = []
    for j, n_codes in enumerate(cards):
        column = X[:, j]
        observed = ~np.isnan(column)
        if n_codes or not observed.any():
            edges.append(np.zeros(0))
            continue
        z = (column[observed].astype(np.float64) - center[j]) / scale[j]
        z = np.clip(z, -STANDARDISED_CLIP, STANDARDISED_CLIP)
        # The inverse of the weighted distribution function.
        order = np.argsort(z, kind="stable")
        cumulative = np.cumsum(weight[observed][order])
        at = np.searchsorted(cumulative, quantiles * cumulative[-1])
        values = z[order][np.minimum(at, len(z) - 1)]
        edges.append(np.unique(values.astype(np.float32)).astype(np.float64))
    return edges


def target_transform(y, sample_weight):
    """Offset and scale standardising each regression target, exact in float32.

    The network stores them in float32; standardising with the rounded values
    makes the stored transform the one the targets were trained with, so a
    large mean with a small spread (``1e9 + noise``) keeps its precision: the
    rounding error goes into the head's bias, in standardised units.
    """
    offset = np.average(y, axis=0, weights=sample_weight)
    scale = np.sqrt(np.average((y - offset) ** 2, axis=0, weights=sample_weight))
    largest = max(np.abs(offset).max(), scale.max())
    if largest > FLOAT32_MAX:
        raise ValueError(
            "Input y contains values beyond the float32 range: the mean or the standard "
            f"deviation of y (largest {largest:.3g}) exceeds {FLOAT32_MAX:.3g}, which the "
            "network would turn into infinity; rescale y."
        )
    offset = offset.astype(np.float32).astype(np.float64)
    scale = scale.astype(np.float32).astype(np.float64)
    scale[~(scale >= np.finfo(np.float32).tiny)] = 1.0
    return offset, scale
