"""Real tables: categorical columns and missing values, from a user's table to the network's matrix.

The network takes one float matrix with a column per feature. A numeric
column keeps its values, a missing one (NaN, ``None``, ``pd.NA``) as NaN. A
categorical column holds codes: :data:`MISSING_CODE` for a missing value,
:data:`INFREQUENT_CODE` for a category with fewer than ``min_frequency`` rows
in ``fit`` or one never seen in ``fit``, and ``FIRST_LEVEL + i`` for the
category ``categories_[j][i]``. The stem learns one vector per code
(:class:`~sklearn_resboost.Stem`).

pandas is not a dependency: it is imported only when the input is a pandas
object, which means it is installed.
"""

import sys
from numbers import Integral

import numpy as np

MISSING_CODE = 0
INFREQUENT_CODE = 1
FIRST_LEVEL = 2


def _pandas():
    """The pandas module when it is imported (the input may then be a DataFrame), else None."""
    return sys.modules.get("pandas")


def is_frame(X):
    pd = _pandas()
    return pd is not None and isinstance(X, pd.DataFrame)


def _categorical_dtype(dtype):
    """Whether a pandas column of ``dtype`` is categorical under ``"from_dtype"``."""
    pd = _pandas()
    if isinstance(dtype, (pd.CategoricalDtype, pd.StringDtype)):
        return True
    return isinstance(dtype, np.dtype) and dtype.kind == "O"


def categorical_mask(X, categorical_features, n_features, caller):
    """The fitted ``is_categorical_`` mask: which of the ``n_features`` columns are categorical.

    ``categorical_features`` is the estimators' parameter: ``"from_dtype"``
    (pandas category, object and string columns; no column of an array),
    ``None`` (none), or an array-like of column indices, feature names or
    booleans, as :class:`~sklearn.ensemble.HistGradientBoostingClassifier`
    takes it.
    """
    names = getattr(X, "columns", None) if is_frame(X) else None
    if isinstance(categorical_features, str):
        if names is None:
            return np.zeros(n_features, dtype=bool)
        return np.array([_categorical_dtype(dtype) for dtype in X.dtypes], dtype=bool)
    if categorical_features is None:
        return np.zeros(n_features, dtype=bool)
    given = np.asarray(categorical_features)
    if given.ndim != 1:
        raise ValueError(
            f"categorical_features must be 'from_dtype', None or a 1-D array-like of "
            f"indices, names or booleans; got an array of shape {given.shape}."
        )
    mask = np.zeros(n_features, dtype=bool)
    if given.size == 0:
        return mask
    if given.dtype.kind == "b":
        if given.size != n_features:
            raise ValueError(
                f"categorical_features as a boolean mask needs one entry per feature: "
                f"got {given.size} entries for {n_features} features."
            )
        return given.copy()
    if given.dtype.kind in "iu":
        outside = [int(i) for i in given if not -n_features <= i < n_features]
        if outside:
            raise ValueError(
                f"categorical_features has indices {outside[:5]} outside the "
                f"{n_features} features of X."
            )
        mask[given] = True
        return mask
    if given.dtype.kind in "UO" and all(isinstance(name, str) for name in given):
        if names is None:
            raise ValueError(
                f"categorical_features names columns {[str(n) for n in given[:5]]}, but X has no "
                f"feature names; {caller} needs a DataFrame for names, or pass indices."
            )
        positions = {str(name): j for j, name in enumerate(names)}
        unknown = [str(name) for name in given if name not in positions]
        if unknown:
            raise ValueError(
                f"categorical_features names {unknown[:5]}, which are not columns of X."
            )
        mask[[positions[name] for name in given]] = True
        return mask
    raise ValueError(
        "categorical_features must be 'from_dtype', None or a 1-D array-like of integer "
        f"indices, feature names or booleans; got values of dtype {given.dtype}."
    )


def _column(X, j):
    """Column ``j`` of a DataFrame (a Series) or of a 2-D array (a 1-D array)."""
    if is_frame(X):
        return X.iloc[:, j]
    return X[:, j]


def _name(X, j):
    return repr(str(X.columns[j])) if is_frame(X) else str(j)


def missing_values(values):
    """Boolean mask of the missing entries (NaN, None, ``pd.NA``, NaT) of a 1-D column."""
    pd = _pandas()
    if pd is not None:
        return np.asarray(pd.isna(values), dtype=bool)
    values = np.asarray(values)
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind != "O":
        return np.zeros(values.shape, dtype=bool)
    return np.fromiter((v is None or v != v for v in values), dtype=bool, count=len(values))


def _values(column):
    """A column's values as a 1-D NumPy array (object for pandas extension dtypes)."""
    if hasattr(column, "to_numpy"):
        if hasattr(column, "cat"):
            return column.astype(object).to_numpy()
        return column.to_numpy()
    return np.asarray(column)


def _kind(value):
    """"text" or "number": the type family a category level belongs to."""
    if isinstance(value, (str, np.str_)):
        return "text"
    if isinstance(value, (bool, np.bool_, Integral, float, np.floating)):
        return "number"
    return type(value).__name__


def _kinds(values):
    """The type families of a column's values without its missing entries."""
    # A typed array holds one family; only an object array needs a look at each value.
    return {_kind(v) for v in values} if values.dtype.kind == "O" else {_kind(values[0])}


def _levels(values, where, caller):
    """The sorted distinct values of a column without its missing entries, and their counts."""
    kinds = _kinds(values)
    if len(kinds) > 1:
        raise ValueError(
            f"{caller}: the categorical column {where} mixes values of types "
            f"{sorted(kinds)}; the categories of a column must be all strings or all "
            "numbers. Convert the column, e.g. with .astype(str)."
        )
    if kinds - {"text", "number"}:
        raise ValueError(
            f"{caller}: the categorical column {where} has values of type "
            f"{kinds.pop()}; categories must be strings or numbers."
        )
    if kinds == {"number"}:
        values = np.asarray(values, dtype=np.float64)
    else:
        values = np.asarray(values, dtype=str)
    return np.unique(values, return_counts=True)


def learn_categories(X, mask, min_frequency, caller):
    """``categories_``: per categorical column, its levels with at least ``min_frequency`` rows.

    An int ``min_frequency`` is a row count, a float a fraction of the rows.
    Levels are sorted; numbers are stored as float64, text as str.
    """
    n_samples = X.shape[0]
    threshold = min_frequency if isinstance(min_frequency, Integral) else min_frequency * n_samples
    categories = []
    for j in np.flatnonzero(mask):
        values = _values(_column(X, j))
        present = values[~missing_values(values)]
        if present.size == 0:
            raise ValueError(
                f"{caller}: the column {_name(X, j)} of X has only missing values in fit; "
                "drop it."
            )
        levels, counts = _levels(present, _name(X, j), caller)
        categories.append(levels[counts >= threshold])
    return categories


def _codes(values, levels, where, caller):
    """The codes of one categorical column's values (see the module docstring)."""
    missing = missing_values(values)
    codes = np.full(len(values), INFREQUENT_CODE, dtype=np.float64)
    codes[missing] = MISSING_CODE
    present = values[~missing]
    if present.size == 0:
        return codes
    expected = "number" if levels.dtype.kind == "f" else "text"
    kinds = _kinds(present)
    if kinds != {expected}:
        found = sorted(kinds - {expected})
        raise ValueError(
            f"{caller}: the categorical column {where} had {expected} categories in fit, "
            f"but X has values of type {found} there; a column must keep its type "
            "between fit and predict."
        )
    present = np.asarray(present, dtype=levels.dtype if expected == "number" else str)
    if levels.size:
        position = np.searchsorted(levels, present).clip(max=levels.size - 1)
        known = levels[position] == present
        codes[np.flatnonzero(~missing)[known]] = FIRST_LEVEL + position[known]
    return codes


def _numeric(column, where, caller):
    """A numeric column as float64, missing entries as NaN."""
    if _is_frame_column(column) and _categorical_dtype(column.dtype):
        raise ValueError(
            f"{caller}: the column {where} was numeric in fit, but X has a "
            f"{column.dtype} column there; a column must keep its type between fit and "
            "predict."
        )
    values = _values(column)
    try:
        if values.dtype.kind == "O":
            missing = missing_values(values)
            result = np.full(len(values), np.nan)
            result[~missing] = np.asarray(values[~missing], dtype=np.float64)
            return result
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{caller}: the column {where} is numeric for the network, but has values "
            f"that are not numbers ({exc}). Declare it in categorical_features, or "
            "encode it first."
        ) from exc


def _is_frame_column(column):
    pd = _pandas()
    return pd is not None and isinstance(column, pd.Series)


def as_table(X):
    """``X`` as a DataFrame or a NumPy array; a list keeps each value's type.

    NumPy would make every value of a list with text a string.
    """
    if is_frame(X) or isinstance(X, np.ndarray):
        return X
    return np.asarray(X, dtype=object)


def encode(X, mask, categories, caller):
    """``X`` as the network's float64 matrix: numeric values and category codes.

    ``X`` is a DataFrame or a 2-D array whose number of columns has been
    checked.
    """
    encoded = np.empty((X.shape[0], X.shape[1]), dtype=np.float64)
    levels = iter(categories)
    for j in range(X.shape[1]):
        column = _column(X, j)
        if mask[j]:
            encoded[:, j] = _codes(_values(column), next(levels), _name(X, j), caller)
        else:
            encoded[:, j] = _numeric(column, _name(X, j), caller)
    return encoded


def cardinalities(mask, categories):
    """Codes per feature for the stem: 0 for a numeric feature, ``FIRST_LEVEL + levels`` else."""
    counts = iter(len(levels) for levels in categories)
    return [FIRST_LEVEL + next(counts) if categorical else 0 for categorical in mask]
