"""Predictions of a fixed set of fits, recorded before the package's redesign.

The fixture ``tests/data/golden.npz`` holds the predictions, staged
predictions and decompositions of small fits of all four estimators (binary
and multiclass classifiers, single- and multi-output regressors, a warm
start, fine-tuning). A refactoring must reproduce them to the last bit on
the CPU with the torch build, CPU kernels, numpy and scikit-learn releases
that recorded them; elsewhere
float32 kernels may round differently, and the test compares to float32
precision. Regenerate the fixture only for an intended change of behaviour:
``python tests/test_golden.py``.
"""

from pathlib import Path

import numpy as np
import pytest
import sklearn
import torch
from sklearn.datasets import make_classification

from sklearn_resboost import (
    BoostResNetClassifier,
    BoostResNetRegressor,
    ResNetClassifier,
    ResNetRegressor,
)

FIXTURE = Path(__file__).parent / "data" / "golden.npz"
# Without the piecewise-linear encoding (the boosted default), the fits recorded
# before it existed; "boost-numeric-bins" has it.
BOOST = dict(n_estimators=3, epochs_per_block=2, batch_size=32, width=8, hidden_size=8,
             lr=1e-2, device="cpu", random_state=0, numeric_bins=None)  # fmt: skip
E2E = dict(n_blocks=2, max_epochs=3, batch_size=32, width=8, hidden_size=8, lr=1e-2,
           device="cpu", random_state=0)  # fmt: skip


def _data():
    X, y2 = make_classification(n_samples=120, n_features=5, n_informative=3, random_state=0)
    y3 = (X[:, 0] > 0).astype(int) + (X[:, 2] > 0)
    noise = np.random.RandomState(0).normal(size=len(X))
    r = X @ np.array([1.0, -2.0, 0.5, 3.0, 0.0]) + np.sin(2 * X[:, 0]) + 0.1 * noise
    return X, y2, y3, r, np.column_stack([r, r * X[:, 1] + 1])


def _outputs(name, est, X):
    out = {}
    methods = ["predict", "predict_proba", "decision_function", "predict_log_proba"]
    for method in methods:
        if hasattr(est, method):
            out[f"{name}.{method}"] = np.asarray(getattr(est, method)(X))
    for method in ["staged_predict", "staged_predict_proba", "staged_decision_function"]:
        if hasattr(est, method):
            stages = list(getattr(est, method)(X))
            out[f"{name}.{method}"] = np.asarray(stages) if stages else np.zeros(0)
    for method in ["hypothesis_ensemble", "feature_ensemble"]:
        if hasattr(est, method):
            out[f"{name}.{method}"] = getattr(est, method)(X)
    if hasattr(est, "train_score_"):
        out[f"{name}.train_score_"] = est.train_score_
    return out


def golden_outputs():
    """Fit the fixed cases (with one torch thread) and return their outputs."""
    X, y2, y3, r, r2 = _data()
    cases = {
        "boost-binary": (BoostResNetClassifier(**BOOST), y2),
        "boost-multiclass-log": (BoostResNetClassifier(**BOOST, loss="log_loss"), y3),
        "boost-regressor": (BoostResNetRegressor(**BOOST, loss="huber"), r),
        "boost-multioutput": (BoostResNetRegressor(**BOOST), r2),
        "boost-finetuned": (BoostResNetClassifier(**BOOST, fine_tune_epochs=2), y3),
        "boost-early-stopping": (
            BoostResNetRegressor(**{**BOOST, "n_estimators": 5}, early_stopping=True), r
        ),
        "boost-numeric-bins": (BoostResNetClassifier(**{**BOOST, "numeric_bins": 16}), y3),
        "e2e-classifier": (ResNetClassifier(**E2E), y3),
        "e2e-regressor": (ResNetRegressor(**E2E, early_stopping=True), r2),
    }
    out = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name, (est, y) in cases.items():
            out.update(_outputs(name, est.fit(X, y), X))
        warm = BoostResNetClassifier(**{**BOOST, "n_estimators": 2}, warm_start=True).fit(X, y3)
        warm.set_params(n_estimators=4).fit(X, y3)
        out.update(_outputs("boost-warm-start", warm, X))
    finally:
        torch.set_num_threads(threads)
    return out


def _environment():
    """What decides the last bits: torch's build and CPU kernels, and numpy's and
    scikit-learn's releases (the data, the inputs' statistics)."""
    return {
        "torch_version": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "numpy_version": np.__version__,
        "sklearn_version": sklearn.__version__,
    }


def _same_kernels(fixture):
    return all(
        name in fixture and str(fixture[name]) == value for name, value in _environment().items()
    )


@pytest.fixture(scope="module")
def recorded():
    with np.load(FIXTURE) as fixture:
        return {key: fixture[key] for key in fixture.files}


@pytest.fixture(scope="module")
def current():
    return golden_outputs()


def test_the_same_outputs_as_recorded(recorded, current):
    expected = {k: v for k, v in recorded.items() if k not in _environment()}
    assert sorted(current) == sorted(expected)
    for key, value in expected.items():
        if _same_kernels(recorded):
            np.testing.assert_array_equal(current[key], value, err_msg=key)
        else:
            np.testing.assert_allclose(current[key], value, rtol=1e-4, atol=1e-5, err_msg=key)


if __name__ == "__main__":
    outputs = golden_outputs()
    np.savez_compressed(
        FIXTURE,
        **_environment(),
        **outputs,
    )
    print(f"wrote {FIXTURE}: {len(outputs)} arrays")
