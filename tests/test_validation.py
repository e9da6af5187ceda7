"""Every bad input is refused with scikit-learn's error type and a message naming the problem.

The cases are tables: each row is an input, where it is passed, the exception
and the start of its message. ``docs/input_validation.rst`` shows the same
tables, rendered from the rows here; ``python tests/test_validation.py``
rewrites them after a change.
"""

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from _params import TINY_BOOST, TINY_E2E
from sklearn.base import is_classifier
from sklearn.exceptions import DataConversionWarning, NotFittedError
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_resboost import (
    BoostResNetClassifier,
    BoostResNetRegressor,
    ResNetClassifier,
    ResNetRegressor,
    _validation,
)
from sklearn_resboost.inspection import (
    gradient_by_path_length,
    lesion_study,
    path_length_distribution,
    reorder_study,
    staged_scores,
)

TORCH_DIR = str(Path(torch.__file__).parent)

DOCS = Path(__file__).resolve().parents[1] / "docs" / "input_validation.rst"
TABLE_START = ".. validation-tables-start"
TABLE_END = ".. validation-tables-end"

TINY = {
    BoostResNetClassifier: TINY_BOOST,
    BoostResNetRegressor: TINY_BOOST,
    ResNetClassifier: TINY_E2E,
    ResNetRegressor: TINY_E2E,
}
# Every estimator, by the kind of target it takes.
ESTIMATORS = {
    "BoostResNetClassifier": ("classifier", BoostResNetClassifier),
    "BoostResNetRegressor": ("regressor", BoostResNetRegressor),
    "ResNetClassifier": ("classifier", ResNetClassifier),
    "ResNetRegressor": ("regressor", ResNetRegressor),
}
BOOSTED = ("BoostResNetClassifier", "BoostResNetRegressor")


def new_estimator(name, **params):
    cls = ESTIMATORS[name][1]
    return cls(**{**TINY[cls], **params})


_rng = np.random.RandomState(0)
X_DATA = _rng.normal(size=(60, 4))
TARGETS = {
    "classifier": (X_DATA[:, 0] + X_DATA[:, 1] > 0).astype(int),
    "regressor": X_DATA @ np.array([1.0, -2.0, 0.5, 0.0]) + 3.0,
}

_BOOSTED_METHODS = (
    "staged_predict",
    "staged_predict_proba",
    "staged_decision_function",
    "hypothesis_ensemble",
    "feature_ensemble",
)
_METHODS = (
    "predict",
    "predict_proba",
    "predict_log_proba",
    "decision_function",
    "score",
    *_BOOSTED_METHODS,
)
# The methods taking X of each estimator.
METHODS = {
    name: tuple(m for m in _METHODS if hasattr(cls, m)) for name, (_, cls) in ESTIMATORS.items()
}
STUDIES = {
    "lesion_study": lambda est, X, y: lesion_study(est, X, y, n_repeats=1, random_state=0),
    "reorder_study": lambda est, X, y: reorder_study(est, X, y, n_repeats=1, random_state=0),
    "gradient_by_path_length": lambda est, X, y: gradient_by_path_length(
        est, X, y, n_samples=1, random_state=0
    ),
    "staged_scores": lambda est, X, y: staged_scores(est, X, y),
}


def call_method(est, method, X, y):
    if method == "score":
        return est.score(X, y)
    result = getattr(est, method)(X)
    return list(result) if method.startswith("staged_") else result


@dataclass(frozen=True)
class Refused:
    """A bad input: ``what`` is passed ``where``; ``message`` starts the error's text.

    ``{name}`` in ``message`` stands for the estimator's class name; ``run`` gets
    a fitted estimator when ``fitted``, else a new one. The case applies to the
    estimators of the ``kinds`` of target, or to those named in ``only``.
    """

    id: str
    what: str
    error: type
    message: str
    run: Callable
    kinds: tuple = ("classifier", "regressor")
    where: str = "``fit``"
    fitted: bool = False
    only: tuple = None

    def estimators(self):
        return [
            name
            for name, (kind, _) in ESTIMATORS.items()
            if kind in self.kinds and (self.only is None or name in self.only)
        ]


def _poison(values, value, dtype=float):
    """A copy of ``values`` with one entry (row 3, column 1 of a matrix) set to ``value``."""
    values = np.array(values, dtype=dtype)
    values[(3, 1) if values.ndim == 2 else 3] = value
    return values


def _missing_column(X):
    X = np.array(X, dtype=float)
    X[:, 1] = np.nan
    return X


def _text_column(X):
    X = X.astype(object)
    X[:, 1] = "a"
    return X


def _ragged(X):
    rows = X.tolist()
    rows[5] = rows[5][:-1]
    return rows


def _frame(X, column=None, values=None):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    if column is not None:
        frame[column] = values
    return frame


def _mixed_frame(X):
    pd = pytest.importorskip("pandas")
    return pd.DataFrame({
        "flag": X[:, 0] > 0,
        "count": np.round(X[:, 1] * 10).astype(np.int8),
        "half": X[:, 2].astype(np.float16),
        "nullable": pd.array(np.round(X[:, 3] * 10).astype(int), dtype="Int64"),
    })


def _frame_with_na(X):
    frame = _mixed_frame(X)
    frame.loc[3, "nullable"] = None
    return frame


# Bad X, refused the same way by fit, every method taking X and every inspection
# function: (id, input, exception, message start, X -> bad X).
BAD_X = [
    ("inf", "``X`` with infinity", ValueError, "Input X contains infinity",
     lambda X: _poison(X, np.inf)),
    ("beyond-float32", "``X`` with a value beyond the float32 range (``1e39``)", ValueError,
     "Input X contains values beyond the float32 range", lambda X: _poison(X, 1e39)),
    ("empty", "``X`` with no rows", ValueError, "Found array with 0 sample(s)",
     lambda X: X[:0]),
    ("no-features", "``X`` with no columns", ValueError, "Found array with 0 feature(s)",
     lambda X: X[:, :0]),
    ("1d", "1-D ``X``", ValueError, "Expected 2D array, got 1D array instead",
     lambda X: X[:, 0]),
    ("3d", "3-D ``X``", ValueError, "Found array with dim 3", lambda X: X[:, :, None]),
    ("text", "``X`` with a text column", ValueError, "{name} needs numeric X", _text_column),
    ("ragged", "ragged nested lists", ValueError, "{name} needs numeric X", _ragged),
    ("complex", "complex ``X``", ValueError, "Complex data not supported",
     lambda X: X + 1j),
    ("datetime", "``X`` of dtype ``datetime64``", ValueError, "X has dates or durations",
     lambda X: X.astype("datetime64[s]")),
    ("timedelta", "``X`` of dtype ``timedelta64``", ValueError, "X has dates or durations",
     lambda X: X.astype("timedelta64[s]")),
    ("frame-datetime", "DataFrame with a datetime column", ValueError,
     "X has columns ['f1'] of dates or durations",
     lambda X: _frame(X, "f1", np.arange(len(X)).astype("datetime64[D]"))),
    ("sparse-too-large", "sparse ``X`` of more than ``MAX_DENSE_CELLS`` (1e8) cells",
     ValueError, "{name} needs dense inputs",
     lambda X: sp.csc_matrix((30_000_000, X.shape[1]))),
]
EVERYWHERE = "``fit``, every method taking ``X``, every inspection function"
METHODS_WHERE = "every method taking ``X``"
STUDIES_WHERE = "inspection functions"


def _over_methods(id_, what, error, message, run):
    """One case per estimator and method taking X: ``run(est, method, X, y)``."""
    return [
        Refused(f"{method}-{id_}", what, error, message,
                lambda est, X, y, method=method: run(est, method, X, y),
                kinds=(kind,), where=METHODS_WHERE, fitted=True, only=(name,))
        for name, (kind, _) in ESTIMATORS.items()
        for method in METHODS[name]
    ]


def _over_studies(id_, what, error, message, run, kinds=("classifier", "regressor")):
    """One case per inspection function: ``run(est, study, X, y)``."""
    return [
        Refused(f"{name}-{id_}", what, error, message,
                lambda est, X, y, study=study: run(est, study, X, y),
                kinds=kinds, where=STUDIES_WHERE, fitted=True)
        for name, study in STUDIES.items()
    ]


BAD_X_CASES = [
    case
    for id_, what, error, message, make in BAD_X
    for case in [
        Refused(f"fit-{id_}", what, error, message,
                lambda est, X, y, make=make: est.fit(make(X), y), where=EVERYWHERE),
        *_over_methods(id_, what, error, message,
                       lambda est, method, X, y, make=make: call_method(est, method, make(X), y)),
        *_over_studies(id_, what, error, message,
                       lambda est, study, X, y, make=make: study(est, make(X), y)),
    ]
]

OTHER = [
    # Inputs of prediction only.
    *_over_methods("wrong-n-features", "``X`` with another number of features than in ``fit``",
                   ValueError, "X has 3 features, but {name} is expecting 4 features",
                   lambda est, method, X, y: call_method(est, method, X[:, :3], y)),
    *_over_methods("not-fitted", "an estimator that is not fitted", NotFittedError,
                   "This {name} instance is not fitted yet",
                   lambda est, method, X, y: call_method(est.__class__(), method, X, y)),
    Refused("changed-type", "a categorical text column given numbers", ValueError,
            "{name}: the categorical column 'f1' had text categories in fit",
            lambda est, X, y: est.fit(_frame(X, "f1", ["a", "b"] * (len(X) // 2)), y).predict(
                _frame(X)), kinds=("classifier", "regressor")),
    # Inputs of fit only.
    Refused("frame-text", "DataFrame with a text column and ``categorical_features=None``",
            ValueError, "{name} needs numeric X",
            lambda est, X, y: est.set_params(categorical_features=None).fit(
                _frame(X, "f1", ["a"] * len(X)), y)),
    Refused("all-missing", "``X`` with a column entirely missing in ``fit``", ValueError,
            "{name}: X has columns [1] whose values are all missing in fit",
            lambda est, X, y: est.fit(_missing_column(X), y)),
    Refused("unknown-categorical", "``categorical_features`` naming no column of ``X``",
            ValueError, "categorical_features names ['nope'], which are not columns of X",
            lambda est, X, y: est.set_params(categorical_features=["nope"]).fit(_frame(X), y)),
    # Targets.
    Refused("y-nan", "``y`` with NaN", ValueError, "Input y contains NaN",
            lambda est, X, y: est.fit(X, _poison(y, np.nan))),
    Refused("y-inf", "``y`` with infinity", ValueError, "Input y contains infinity",
            lambda est, X, y: est.fit(X, _poison(y, np.inf)), kinds=("regressor",)),
    Refused("y-length", "``y`` of another length than ``X``", ValueError,
            "Found input variables with inconsistent numbers of samples",
            lambda est, X, y: est.fit(X, y[:-1])),
    Refused("y-beyond-float32", "``y`` beyond the float32 range (``1e39``)", ValueError,
            "Input y contains values beyond the float32 range",
            lambda est, X, y: est.fit(X, y * 1e39), kinds=("regressor",)),
    Refused("y-text", "non-numeric ``y``", ValueError, "{name} needs a numeric y",
            lambda est, X, y: est.fit(X, np.array(["low", "high"])[(y > 0).astype(int)]),
            kinds=("regressor",)),
    Refused("one-class", "``y`` with a single class", ValueError,
            "{name} needs samples of at least 2 classes",
            lambda est, X, y: est.fit(X, np.zeros_like(y)), kinds=("classifier",)),
    Refused("one-sample", "one sample", ValueError, "{name} needs samples of at least 2 classes",
            lambda est, X, y: est.fit(X[:1], y[:1]), kinds=("classifier",)),
    Refused("multilabel", "multilabel or multi-output ``y``", ValueError,
            "{name} needs a 1-D y of class labels",
            lambda est, X, y: est.fit(X, np.column_stack([y, 1 - y])), kinds=("classifier",)),
    Refused("continuous-y", "continuous ``y``", ValueError, "Unknown label type: continuous",
            lambda est, X, y: est.fit(X, y + 0.5), kinds=("classifier",)),
    Refused("mixed-labels", "labels of mixed types (``None`` among strings)", TypeError,
            "y mixes labels of types",
            lambda est, X, y: est.fit(X, np.array(["a", None] * 30, dtype=object)),
            kinds=("classifier",)),
    # Weights.
    Refused("sw-negative", "negative ``sample_weight``", ValueError,
            "Negative values in data passed to `sample_weight`",
            lambda est, X, y: est.fit(X, y, sample_weight=np.full(len(y), -1.0))),
    Refused("sw-nan", "``sample_weight`` with NaN", ValueError,
            "Input sample_weight contains NaN",
            lambda est, X, y: est.fit(X, y, sample_weight=_poison(np.ones(len(y)), np.nan))),
    Refused("sw-inf", "``sample_weight`` with infinity", ValueError,
            "Input sample_weight contains infinity",
            lambda est, X, y: est.fit(X, y, sample_weight=_poison(np.ones(len(y)), np.inf))),
    Refused("sw-zero", "``sample_weight`` all zero", ValueError,
            "Sample weights must contain at least one non-zero number",
            lambda est, X, y: est.fit(X, y, sample_weight=np.zeros(len(y)))),
    Refused("sw-length", "``sample_weight`` of another length than ``X``", ValueError,
            "sample_weight.shape == (59,), expected (60,)!",
            lambda est, X, y: est.fit(X, y, sample_weight=np.ones(len(y) - 1))),
    Refused("cw-unknown", "``class_weight`` with a label not in ``y``", ValueError,
            "class_weight has labels ['7'] that are not in y's classes",
            lambda est, X, y: est.set_params(class_weight={0: 1.0, 7: 2.0}).fit(X, y),
            kinds=("classifier",)),
    Refused("cw-negative", "``class_weight`` with a negative or NaN weight", ValueError,
            "class_weight must map labels to finite non-negative numbers",
            lambda est, X, y: est.set_params(class_weight={0: -1.0, 1: np.nan}).fit(X, y),
            kinds=("classifier",)),
    Refused("one-weighted-class", "weights leaving a single class", ValueError,
            "{name} needs samples of at least 2 classes with positive weight",
            lambda est, X, y: est.fit(X, y, sample_weight=(y == 1).astype(float)),
            kinds=("classifier",)),
    # Settings that cannot work with the data.
    Refused("no-validation-split", "``early_stopping=True`` with too few samples", ValueError,
            "early_stopping needs a validation split",
            lambda est, X, y: est.set_params(early_stopping=True).fit(X[:3], [0, 1, 1])
            if is_classifier(est)
            else est.set_params(early_stopping=True).fit(X[:1], y[:1])),
    Refused("device", "an unknown ``device``", ValueError,
            "device='gpu-7' is not a valid torch device",
            lambda est, X, y: est.set_params(device="gpu-7").fit(X, y)),
    Refused("block-not-module", "``block`` returning no ``torch.nn.Module``", ValueError,
            "block must return a torch.nn.Module",
            lambda est, X, y: est.set_params(block=lambda width: "mlp").fit(X, y)),
    Refused("too-large", "a network larger than the memory (``width=hidden_size=10**7``)",
            ValueError,
            "The network needs about",
            lambda est, X, y: est.set_params(width=10**7, hidden_size=10**7).fit(X, y)),
    Refused("block-wrong-shape", "``block`` whose module changes the width", ValueError,
            "block must return a torch.nn.Module mapping float32 inputs of shape "
            "(n_samples, width)",
            lambda est, X, y: est.set_params(block=lambda width: torch.nn.Linear(width, width + 1))
            .fit(X, y)),
    Refused("block-float64", "``block`` returning a float64 module", ValueError,
            "block must return a torch.nn.Module mapping float32 inputs of shape "
            "(n_samples, width)",
            lambda est, X, y: est.set_params(block=lambda width: torch.nn.Linear(width, width)
                                             .double()).fit(X, y)),
    Refused("block-no-weight", "``block`` without a layer to zero-initialise", ValueError,
            "The module returned by block has no layer with a 'weight' parameter",
            lambda est, X, y: est.set_params(block=lambda width: torch.nn.ReLU()).fit(X, y)),
    Refused("warm-start-fewer", "``warm_start=True`` with fewer ``n_estimators``", ValueError,
            "n_estimators=1 must be larger or equal to",
            lambda est, X, y: est.set_params(warm_start=True)
            .fit(X, y)
            .set_params(n_estimators=1)
            .fit(X, y), only=BOOSTED),
    # Inspection functions.
    *_over_studies("y-length", "``y`` of another length than ``X``", ValueError,
                   "Found input variables with inconsistent numbers of samples",
                   lambda est, study, X, y: study(est, X, y[:-1])),
    *_over_studies("y-text", "non-numeric ``y``", ValueError,
                   "y must hold numbers for the regressor {name}",
                   lambda est, study, X, y: study(est, X, np.array(["low"] * len(y))),
                   kinds=("regressor",)),
    *_over_studies("y-nan", "``y`` with NaN", ValueError,
                   "Input y contains NaN",
                   lambda est, study, X, y: study(est, X, _poison(y, np.nan)),
                   kinds=("regressor",)),
    *_over_studies("not-fitted", "an estimator that is not fitted", NotFittedError,
                   "This {name} instance is not fitted yet",
                   lambda est, study, X, y: study(est.__class__(), X, y)),
    *_over_studies("not-ours", "a fitted estimator of another package", TypeError,
                   "StandardScaler is not a fitted estimator of sklearn_resboost: it has no "
                   "fitted network (module_)",
                   lambda est, study, X, y: study(StandardScaler().fit(X), X, y)),
    *_over_studies("not-estimator", "an object that is no estimator", TypeError,
                   "abc is not an estimator instance",
                   lambda est, study, X, y: study("abc", X, y)),
    Refused("gradient-unknown-labels", "labels not in ``classes_``", ValueError,
            "y contains labels ['7'] that are not in the estimator's classes_",
            lambda est, X, y: gradient_by_path_length(est, X, np.where(y == 1, 7, y)),
            kinds=("classifier",), where="``gradient_by_path_length``", fitted=True),
    Refused("n-deleted", "``n_deleted`` above the number of blocks", ValueError,
            "n_deleted must hold integers between 0 and 2",
            lambda est, X, y: lesion_study(est, X, y, n_deleted=[1, 9]),
            where="``lesion_study``", fitted=True),
    Refused("n-repeats", "``n_repeats=0``", InvalidParameterError,
            "The 'n_repeats' parameter of lesion_study must be",
            lambda est, X, y: lesion_study(est, X, y, n_repeats=0), where="``lesion_study``",
            fitted=True),
    Refused("coverage", "``coverage=0``", InvalidParameterError,
            "The 'coverage' parameter of gradient_by_path_length must be",
            lambda est, X, y: gradient_by_path_length(est, X, y, coverage=0.0),
            where="``gradient_by_path_length``", fitted=True),
    Refused("n-blocks", "``n_blocks=-1``", InvalidParameterError,
            "The 'n_blocks' parameter of path_length_distribution must be",
            lambda est, X, y: path_length_distribution(-1),
            where="``path_length_distribution``", fitted=True),
]

# Invalid values of every constructor parameter; each raises InvalidParameterError.
INVALID_PARAMS = {
    "loss": ["hinge", None],
    "n_estimators": [0, 1.5, "5"],
    "n_blocks": [0, 2.5],
    "learning_rate": [0.0, -1.0],
    "width": [0, 2.0],
    "hidden_size": [0],
    "block": ["transformer", 3],
    "image_shape": [8, "8x8"],
    "head_pooling": ["max", None],
    "strides": [2, "1,2"],
    "epochs_per_block": [0],
    "max_epochs": [0],
    "fine_tune_epochs": [-1, 1.5],
    "skip": ["no"],
    "callbacks": ["progress"],
    "batch_size": [0, -1],
    "lr": [0.0, -1e-3],
    "weight_decay": [-1e-4],
    "dropout": [1.0, -0.1],
    "input_noise": [-0.1, float("nan")],
    "subsample": [0.0, 1.5],
    "gamma": [1.0, -0.1],
    "early_stopping": ["sometimes", None],
    "validation_fraction": [0.0, 1.0],
    "n_iter_no_change": [0],
    "tol": [-1.0],
    "warm_start": ["yes"],
    "mixed_precision": ["bf16", 2],
    "device": [0, None],
    "n_threads": [0, -1, 1.5, "all"],
    "class_weight": [[1.0, 2.0], "auto"],
    "alpha": [0.0, 1.0],
    "categorical_features": ["auto", 3],
    "min_frequency": [0, 1.5],
    "numeric_bins": [0, 1, 257, 2.5, "16"],
    "random_state": ["seed"],
    "verbose": [-1, "loud"],
}


@dataclass(frozen=True)
class Accepted:
    """An input that is taken, converted or with a warning; ``fit`` and ``predict`` work."""

    id: str
    what: str
    outcome: str
    make: Callable
    warning: type = None


ACCEPTED = [
    Accepted("float32-edge", "``X`` near the float32 limit (``1e30``, ``3e38``)",
             "trained on; predictions are finite (normalised inputs are clipped)",
             lambda X, y: (np.where(X > 0, 3e38, -1e30) * np.abs(X) / np.abs(X).max(), y)),
    Accepted("tiny", "``X`` with tiny values (``1e-46``, below float32's smallest number)",
             "such features are constant for the network; predictions are finite",
             lambda X, y: (X * 1e-46, y)),
    Accepted("one-feature", "one feature", "trained on", lambda X, y: (X[:, :1], y)),
    Accepted("bool-int", "DataFrame of bool, int8, float16 and nullable Int64 columns",
             "converted to float32", lambda X, y: (_mixed_frame(X), y)),
    Accepted("nan", "``X`` with NaN", "a missing value, learned per feature",
             lambda X, y: (_poison(X, np.nan), y)),
    Accepted("none", "``X`` of dtype object with ``None``", "a missing value",
             lambda X, y: (_poison(X, None, object), y)),
    Accepted("pd-na", "DataFrame with ``pd.NA`` in a nullable column", "a missing value",
             lambda X, y: (_frame_with_na(X), y)),
    Accepted("frame-text", "DataFrame with a text column, missing values among the text",
             "a categorical feature (``categorical_features='from_dtype'``)",
             lambda X, y: (_frame(X, "f1", (["a", "b", None] * len(X))[: len(X)]), y)),
    Accepted("sparse", "sparse ``X`` up to ``MAX_DENSE_CELLS`` (1e8) cells",
             "densified, with a ``DataConversionWarning``",
             lambda X, y: (sp.csr_matrix(np.where(np.abs(X) > 1, X, 0.0)), y),
             DataConversionWarning),
    Accepted("column-y", "``y`` of shape ``(n, 1)``",
             "raveled for the classifier, with scikit-learn's ``DataConversionWarning``",
             lambda X, y: (X, y[:, None])),
    Accepted("weights-extreme", "``sample_weight`` of ``1e300`` or ``1e-300``",
             "only relative weights matter: rescaled into the float32 range",
             lambda X, y: (X, y, np.where(np.arange(len(y)) % 2, 1e300, 1e-300))),
]


def refused_cases():
    return [
        pytest.param(case, name, id=f"{name}-{case.id}")
        for case in BAD_X_CASES + OTHER
        for name in case.estimators()
    ]


@pytest.fixture(scope="module")
def fitted():
    return {
        name: new_estimator(name).fit(X_DATA, TARGETS[kind])
        for name, (kind, _) in ESTIMATORS.items()
    }


@pytest.mark.parametrize("case, name", refused_cases())
def test_refused(case, name, fitted):
    est = fitted[name] if case.fitted else new_estimator(name)
    with warnings.catch_warnings():
        # A DataFrame passed to an estimator fitted on an array warns first.
        warnings.filterwarnings("ignore", message="X has feature names")
        with pytest.raises(case.error) as raised:
            case.run(est, X_DATA, TARGETS[ESTIMATORS[name][0]])
    message = case.message.format(name=name)
    assert str(raised.value).startswith(message), str(raised.value)
    # Refused before any tensor is made: the error comes from the checks, not torch.
    assert not str(raised.traceback[-1].path).startswith(TORCH_DIR)


def param_cases():
    return [
        pytest.param(name, param, value, id=f"{name}-{param}={value!r}")
        for name, (_, cls) in ESTIMATORS.items()
        for param, values in INVALID_PARAMS.items()
        if param in cls._parameter_constraints
        for value in values
    ]


@pytest.mark.parametrize("name, param, value", param_cases())
def test_invalid_parameter(name, param, value):
    est = new_estimator(name, **{param: value})
    with pytest.raises(InvalidParameterError, match=f"^The '{param}' parameter of {name} must"):
        est.fit(X_DATA, TARGETS[ESTIMATORS[name][0]])


@pytest.mark.parametrize("name", ESTIMATORS)
def test_every_parameter_has_invalid_values(name):
    missing = set(ESTIMATORS[name][1]._parameter_constraints) - set(INVALID_PARAMS)
    assert not missing, f"add invalid values of {sorted(missing)} to INVALID_PARAMS"


@pytest.mark.parametrize(
    "case, name",
    [pytest.param(case, name, id=f"{name}-{case.id}") for case in ACCEPTED for name in ESTIMATORS],
)
def test_accepted(case, name):
    X, y, *weights = case.make(X_DATA, TARGETS[ESTIMATORS[name][0]])
    est = new_estimator(name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y, sample_weight=weights[0] if weights else None)
        predictions = [call_method(est, method, X, y) for method in METHODS[name]]
    if case.warning is not None:
        assert any(issubclass(w.category, case.warning) for w in caught)
    for output in predictions:
        # A staged method of a fit that kept no block yields nothing.
        values = np.concatenate([np.ravel(np.asarray(v)) for v in output] or [[]]) if isinstance(
            output, list
        ) else np.ravel(np.asarray(output))
        if values.dtype.kind == "f":
            assert not np.any(np.isnan(values))


def test_sparse_densifies_like_dense(fitted):
    X_sparse = sp.csr_matrix(np.where(np.abs(X_DATA) > 1, X_DATA, 0.0))
    for est in fitted.values():
        with pytest.warns(DataConversionWarning, match="converted the sparse X"):
            sparse_pred = est.predict(X_sparse)
        np.testing.assert_array_equal(sparse_pred, est.predict(X_sparse.toarray()))
    small = sp.csr_matrix((10, 10))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_validation, "MAX_DENSE_CELLS", 99)
        with pytest.raises(ValueError, match="more than the 1e\\+02 it densifies"):
            new_estimator("BoostResNetClassifier").fit(small, np.arange(10) % 2)


# -- the documentation's tables ---------------------------------------------------


def _whose(names):
    """Which estimators a row is about, when not all of them."""
    if len(names) == len(ESTIMATORS):
        return ""
    kinds = {ESTIMATORS[name][0] for name in names}
    if set(names) == {n for n, (kind, _) in ESTIMATORS.items() if kind in kinds}:
        return f" ({'classifiers' if kinds == {'classifier'} else 'regressors'})"
    return " (" + ", ".join(f":class:`~sklearn_resboost.{name}`" for name in sorted(names)) + ")"


def _literal(text):
    return "``" + text.replace("{name}", "<estimator>") + "``"


def render_tables():
    """The list-tables of docs/input_validation.rst, one row per distinct case."""
    names = {}
    for case in BAD_X_CASES + OTHER:
        key = (case.what, case.where, case.error.__name__, _literal(case.message))
        names.setdefault(key, set()).update(case.estimators())
    rows = [(what + _whose(names[key]), *rest) for key in names for what, *rest in [key]]
    for param, values in INVALID_PARAMS.items():
        shown = ", ".join(f"``{param}={value!r}``" for value in values)
        rows.append((shown, "``fit``", "InvalidParameterError",
                     _literal(f"The '{param}' parameter of {{name}} must be")))
    lines = [
        ".. list-table:: Refused inputs",
        "   :header-rows: 1",
        "   :widths: 30 20 15 35",
        "",
        "   * - Input",
        "     - Where",
        "     - Exception",
        "     - Message starts with",
    ]
    for row in rows:
        lines.append(f"   * - {row[0]}")
        lines += [f"     - {cell}" for cell in row[1:]]
    lines += [
        "",
        ".. list-table:: Accepted inputs",
        "   :header-rows: 1",
        "   :widths: 40 60",
        "",
        "   * - Input",
        "     - What happens",
    ]
    for case in ACCEPTED:
        lines += [f"   * - {case.what}", f"     - {case.outcome}"]
    return "\n".join(lines) + "\n"


def _docs_block(text):
    pattern = rf"^{re.escape(TABLE_START)}\n(.*?)^{re.escape(TABLE_END)}$"
    match = re.search(pattern, text, re.S | re.M)
    assert match, f"{DOCS} lacks the {TABLE_START} / {TABLE_END} markers"
    return match


def test_docs_tables_match_the_cases():
    block = _docs_block(DOCS.read_text()).group(1)
    assert block == "\n" + render_tables() + "\n", (
        "docs/input_validation.rst is out of date: run python tests/test_validation.py"
    )


if __name__ == "__main__":
    text = DOCS.read_text()
    match = _docs_block(text)
    DOCS.write_text(text[: match.start(1)] + "\n" + render_tables() + "\n" + text[match.end(1) :])
    print(f"updated {DOCS}")


@pytest.mark.parametrize("name", ESTIMATORS)
def test_weights_float32_cannot_hold_drop_their_rows(name):
    # Relative to 1e45, a weight of 1 is 0 in float32: a minibatch of such rows
    # had a total weight of 0 and trained on 0 / 0.
    kind = ESTIMATORS[name][0]
    X, y = X_DATA, TARGETS[kind]
    heavy = np.arange(len(y)) % 3 == 0
    weight = np.where(heavy, 1e45, 1.0)
    weighted = new_estimator(name, batch_size=8, random_state=0)
    weighted.fit(X, y, sample_weight=weight)
    dropped = new_estimator(name, batch_size=8, random_state=0).fit(X[heavy], y[heavy])
    out = weighted.predict_proba(X) if kind == "classifier" else weighted.predict(X)
    assert np.all(np.isfinite(out))
    expected = dropped.predict_proba(X) if kind == "classifier" else dropped.predict(X)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "n_samples, stratify",
    [(6, np.array([0, 0, 0, 1, 1, 1])), (3, np.array([0, 1, 1])), (1, None)],
    ids=["test-size-below-classes", "class-of-one", "one-sample"],
)
def test_validation_split_error_ends_its_sentences(n_samples, stratify):
    # scikit-learn's reason may or may not end with a full stop.
    est = new_estimator("BoostResNetClassifier", early_stopping=True, validation_fraction=0.1)
    with pytest.raises(ValueError) as raised:
        _validation.validation_split(est, n_samples, 10, stratify, 0)
    message = str(raised.value)
    assert re.search(r"[^.]\. Use more samples or early_stopping=False\.$", message), message


def test_class_weight_error_shows_numpy_values_plainly():
    classes = np.array([0, 1])
    with pytest.raises(ValueError, match=r"numbers; got \{0: -1\.0, 1: nan\}\.$"):
        _validation.check_class_weight({np.int64(0): np.float64(-1.0), 1: np.nan}, classes)


def test_count_errors_show_numpy_values_plainly(fitted):
    est = fitted["BoostResNetClassifier"]
    y = TARGETS["classifier"]
    with pytest.raises(TypeError, match=r"^n_deleted must hold integers; got \[1\.5, 2\.0\]\.$"):
        lesion_study(est, X_DATA, y, n_deleted=np.array([1.5, 2.0]))
    with pytest.raises(TypeError, match=r"^n_swaps must hold integers; got \[True\]\.$"):
        reorder_study(est, X_DATA, y, n_swaps=[True])


def test_inspection_error_names_a_module_that_is_no_resnet(fitted):
    est = StandardScaler().fit(X_DATA)
    est.module_ = torch.nn.Linear(4, 1)
    with pytest.raises(TypeError, match=r"^StandardScaler is not a fitted estimator of "
                       r"sklearn_resboost: its module_ is a Linear, not a sklearn_resboost "
                       r"ResNet\. The inspection tools need a fitted BoostResNetClassifier"):
        staged_scores(est, X_DATA, TARGETS["classifier"])
