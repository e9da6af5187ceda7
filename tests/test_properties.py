"""Property-based tests: random shapes, dtypes, labels and weights.

Whatever the data, ``fit`` refuses exactly the inputs the package documents as
invalid (with scikit-learn's ``ValueError`` and its message) and fits every
other input; what is fitted gives finite predictions whose decompositions sum
to the decision function.
"""

import warnings

import numpy as np
import pytest
from _params import TINY_BOOST, TINY_E2E
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.base import is_classifier

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


def _refusal(X, y, weights, classification):
    """The documented refusal the generated data must get, or None for valid data."""
    # In the order fit checks them: finiteness of X and y, then X's float32 range.
    X64 = X.astype(np.float64)
    if not np.all(np.isfinite(X64)):
        return "Input X contains"
    if not classification and not np.all(np.isfinite(y)):
        return "Input y contains"
    if np.abs(X64).max(initial=0) > FLOAT32_MAX:
        return "Input X contains values beyond the float32 range"
    if weights is not None:
        if np.isnan(weights).any() or np.isinf(weights).any():
            return "sample_weight|contains NaN|infinity"
        if (weights < 0).any():
            return "Negative values in data passed to"
    if classification and y.dtype.kind == "f" and np.any(y != np.round(y)):
        # scikit-learn reads non-integer float labels as a continuous target.
        return "Unknown label type"
    # Rows whose weight float32 cannot hold are dropped (documented in fit).
    kept = np.ones(len(y), dtype=bool)
    if weights is not None:
        kept = weights > max(weights.max(initial=0), 0) * 1e-38
        if not kept.any():
            return "at least one non-zero|positive weight"
    if classification and len(np.unique(y[kept])) < 2:
        return "at least 2 classes"
    if not classification:
        # The targets' mean and spread must fit in float32 (they are standardised).
        with np.errstate(all="ignore"):
            target = y[kept].astype(np.float64)
            moments = np.concatenate([np.atleast_1d(np.mean(target, axis=0)), np.atleast_1d(np.std(target, axis=0))])
        if not np.all(np.isfinite(moments)) or np.abs(moments).max() > FLOAT32_MAX:
            return "float32|y"
    return None


@pytest.mark.parametrize("name", ESTIMATORS)
@FAST
@given(data=st.data())
def test_fit_and_predict_work_or_refuse_clearly(name, data):
    est = ESTIMATORS[name]()
    X, y, weights = data.draw(datasets(is_classifier(est)))
    refusal = _refusal(X, y, weights, is_classifier(est))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if refusal is not None:
            with pytest.raises(ValueError, match=refusal):
                est.fit(X, y, sample_weight=weights)
            return
        # Valid data must be fitted: a refusal here fails the test.
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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refusal = _refusal(X, y, weights, is_classifier(est))
        if refusal is not None:
            # One class only, or no positive weight: refused, as it must be.
            with pytest.raises(ValueError, match=refusal):
                est.fit(X, y, sample_weight=weights)
            return
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
    beyond = not np.all(np.isfinite(X)) or np.abs(X).max() > FLOAT32_MAX
    for est in fitted.values():
        if beyond:
            with pytest.raises(ValueError, match="Input X contains"):
                est.predict(X)
        else:
            assert np.all(np.isfinite(_outputs(est, X)[0]))
