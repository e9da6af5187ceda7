"""Property-based tests: random shapes, dtypes, labels and weights.

Whatever the data, ``fit`` either works or refuses the input with the
``ValueError`` that ``docs/input_validation.rst`` lists for it; what works
gives finite predictions whose decompositions sum to the decision function.
"""

import re
import warnings

import numpy as np
import pytest
from _params import TINY_BOOST, TINY_E2E
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.base import is_classifier
from sklearn.utils.multiclass import type_of_target

from sklearn_resboost import (
    BoostResNetClassifier,
    BoostResNetRegressor,
    ResNetClassifier,
    ResNetRegressor,
)

# Batches of 8 rows: the data sets of 1 to 24 rows take one to three steps an epoch.
BATCHES = {"batch_size": 8}
ESTIMATORS = {
    "BoostResNetClassifier": lambda: BoostResNetClassifier(**{**TINY_BOOST, **BATCHES}),
    "BoostResNetRegressor": lambda: BoostResNetRegressor(**{**TINY_BOOST, **BATCHES}),
    "ResNetClassifier": lambda: ResNetClassifier(**{**TINY_E2E, **BATCHES}),
    "ResNetRegressor": lambda: ResNetRegressor(**{**TINY_E2E, **BATCHES}),
}
FAST = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FLOAT32_MAX = float(np.finfo(np.float32).max)
# fit drops the rows whose weight is below this fraction of the largest one
# (float32's smallest normal number; docs/input_validation.rst says 1e-45).
RELATIVE_WEIGHT_DROPPED = float(np.finfo(np.float32).tiny)

DTYPES = st.sampled_from(["float64", "float32", "float16", "int64", "int8", "uint8", "bool"])
LABEL_SETS = st.sampled_from(
    [np.array([0, 1]), np.array([-1, 1]), np.array([3, 7, 11]), np.array(["a", "b", "c", "d"]),
     np.array([True, False]), np.array([0.5, 2.5])]
)


@st.composite
def features(draw, n_samples, finite=False):
    """An ``X`` of a random dtype; float values anywhere, NaN and inf unless ``finite``."""
    n_features = draw(st.integers(1, 4))
    dtype = np.dtype(draw(DTYPES))
    if dtype.kind == "f":
        bound = min(FLOAT32_MAX, float(np.finfo(dtype).max))
        elements = st.floats(
            allow_nan=not finite,
            allow_infinity=not finite,
            width=dtype.itemsize * 8,
            **({"min_value": -bound, "max_value": bound} if finite else {}),
        )
    else:
        elements = None
    return draw(hnp.arrays(dtype, (n_samples, n_features), elements=elements))


@st.composite
def datasets(draw, classification, finite=False):
    n_samples = draw(st.integers(1, 24))
    X = draw(features(n_samples, finite=finite))
    if classification:
        labels = draw(LABEL_SETS)
        y = labels[draw(hnp.arrays(np.int64, n_samples, elements=st.integers(0, len(labels) - 1)))]
    else:
        y = draw(
            hnp.arrays(
                np.float64,
                st.sampled_from([(n_samples,), (n_samples, 2)]),
                elements=st.floats(-1e15, 1e15) if finite else st.floats(width=64),
            )
        )
    weights = draw(
        st.one_of(
            st.none(),
            hnp.arrays(
                np.float64,
                n_samples,
                elements=st.floats(0, 1e6)
                if finite
                else st.floats(0, 1e300) | st.sampled_from([-1.0, np.nan, np.inf]),
            ),
        )
    )
    return X, y, weights


def _non_finite_refusals(values, name, float32=True):
    """The refusals of NaN, infinity and (``float32``) values beyond the float32 range."""
    values = np.asarray(values, dtype=np.float64)
    refusals = []
    if np.isnan(values).any():
        refusals.append(f"Input {name} contains NaN")
    if np.isinf(values).any():
        refusals.append(f"Input {name} contains infinity")
    if float32 and np.any(np.abs(values[np.isfinite(values)]) > FLOAT32_MAX):
        refusals.append(f"Input {name} contains values beyond the float32 range")
    return refusals


def documented_refusals(est, X, y, weights):
    """How the refusals of ``docs/input_validation.rst`` that apply to this input start.

    Empty when none applies: then ``fit`` must take the input. An input with
    several problems may be refused for any of them.
    """
    name = type(est).__name__
    # Missing values are taken, but not a column that has nothing else.
    refusals = [r for r in _non_finite_refusals(X, "X") if "NaN" not in r]
    if len(X) and np.isnan(np.asarray(X, dtype=np.float64)).all(axis=0).any():
        refusals.append(f"{name}: X has columns")
    # The weights are rescaled before the float32 cast: any finite one is fine.
    weight = np.ones(len(y)) if weights is None else weights
    refusals += _non_finite_refusals(weight, "sample_weight", float32=False)
    if np.any(weight < 0):
        refusals.append("Negative values in data passed to `sample_weight`")
    elif np.all(weight == 0):
        refusals.append("Sample weights must contain at least one non-zero number")
    usable = np.all(np.isfinite(weight)) and np.all(weight >= 0) and np.any(weight > 0)
    if usable:
        weight = weight / weight.max()
        kept = weight >= RELATIVE_WEIGHT_DROPPED
    if is_classifier(est):
        if type_of_target(y) == "continuous":
            refusals.append("Unknown label type: continuous")
        if len(np.unique(y)) < 2:
            refusals.append(f"{name} needs samples of at least 2 classes")
        elif usable and len(np.unique(y[kept])) < 2:
            refusals.append(f"{name} needs samples of at least 2 classes with positive weight")
    else:
        refusals += _non_finite_refusals(y, "y", float32=False)
        if usable and np.all(np.isfinite(y)):
            # The targets are standardised: their weighted mean and standard
            # deviation must fit in float32, not every value.
            with np.errstate(over="ignore", invalid="ignore"):
                mean = np.average(y[kept], axis=0, weights=weight[kept])
                std = np.sqrt(np.average((y[kept] - mean) ** 2, axis=0, weights=weight[kept]))
            if not max(np.abs(mean).max(), std.max()) <= FLOAT32_MAX:
                refusals.append("Input y contains values beyond the float32 range")
    return refusals


def _starts_with_one_of(messages):
    return "^(?:" + "|".join(map(re.escape, messages)) + ")"


def _outputs(est, X):
    """Every prediction of ``est`` on ``X``, as float arrays, with the final scores first."""
    if is_classifier(est):
        scores = est.decision_function(X)
        outputs = [scores, est.predict_proba(X), est.predict_log_proba(X)]
    else:
        scores = est.predict(X)
        outputs = [scores]
    if hasattr(est, "hypothesis_ensemble"):
        staged = est.staged_decision_function if is_classifier(est) else est.staged_predict
        outputs += [*staged(X), est.hypothesis_ensemble(X), est.feature_ensemble(X)]
    return outputs


@pytest.mark.parametrize("name", ESTIMATORS)
@FAST
@given(data=st.data())
def test_fit_and_predict_work_or_refuse_clearly(name, data):
    est = ESTIMATORS[name]()
    X, y, weights = data.draw(datasets(is_classifier(est)))
    refusals = documented_refusals(est, X, y, weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if refusals:
            with pytest.raises(ValueError, match=_starts_with_one_of(refusals)):
                est.fit(X, y, sample_weight=weights)
            return
        est.fit(X, y, sample_weight=weights)
        outputs = _outputs(est, X)
    for output in outputs:
        assert np.all(np.isfinite(output)), name
    assert est.predict(X).shape[0] == len(X)


@pytest.mark.parametrize("name", ["BoostResNetClassifier", "BoostResNetRegressor"])
@FAST
@given(data=st.data())
def test_decompositions_sum_to_the_decision_function(name, data):
    est = ESTIMATORS[name]()
    X, y, weights = data.draw(datasets(is_classifier(est), finite=True))
    # The test above checks the refusals; this one takes the inputs fit must
    # take (two classes keep a positive weight, the labels are not continuous).
    assume(not documented_refusals(est, X, y, weights))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y, sample_weight=weights)
        scores, *_ = outputs = _outputs(est, X)
    for output in outputs:
        assert np.all(np.isfinite(output))
    hypothesis, features = est.hypothesis_ensemble(X), est.feature_ensemble(X)
    assert hypothesis.shape == features.shape == (est.n_estimators_ + 1, *scores.shape)
    tolerance = 1e-9 * max(1.0, np.abs(hypothesis).max(), np.abs(features).max())
    np.testing.assert_allclose(hypothesis.sum(axis=0), scores, rtol=1e-9, atol=tolerance)
    np.testing.assert_allclose(features.sum(axis=0), scores, rtol=1e-9, atol=tolerance)
    if est.n_estimators_:
        staged = est.staged_decision_function if is_classifier(est) else est.staged_predict
        np.testing.assert_array_equal(list(staged(X))[-1], scores)


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    return {
        name: ESTIMATORS[name]().fit(X, y if "Classifier" in name else X @ [1.0, -2.0, 0.5])
        for name in ESTIMATORS
    }


@FAST
@given(
    X=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 20), st.just(3)),
        elements=st.floats(-FLOAT32_MAX, FLOAT32_MAX),
    )
)
def test_finite_inputs_give_finite_predictions(fitted, X):
    for name, est in fitted.items():
        for output in _outputs(est, X):
            assert np.all(np.isfinite(output)), name


@FAST
@given(
    X=hnp.arrays(np.float64, st.tuples(st.integers(1, 20), st.just(3)), elements=st.floats()),
)
def test_any_float_input_is_predicted_or_refused(fitted, X):
    # NaN is a missing value, which every estimator takes.
    observed = X[~np.isnan(X)]
    beyond = np.isinf(observed).any() or (observed.size and np.abs(observed).max() > FLOAT32_MAX)
    for est in fitted.values():
        if beyond:
            with pytest.raises(ValueError, match="Input X contains"):
                est.predict(X)
        else:
            assert np.all(np.isfinite(_outputs(est, X)[0]))
