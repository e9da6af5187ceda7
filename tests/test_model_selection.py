"""Choosing the number of blocks: staged scores, grid search, halving, parallel backends."""

import os

import joblib
import numpy as np
import pytest
import torch
from _params import SMALL_BOOST
from joblib import parallel_config
from sklearn.exceptions import NotFittedError
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import GridSearchCV, HalvingGridSearchCV, validation_curve

from sklearn_resboost import BoostResNetClassifier, BoostResNetRegressor

# SMALL_BOOST names its device: worker processes do not inherit the test
# session's rule that device="auto" means the CPU, and on a CUDA machine they
# would train on the GPU while the reference fits on the CPU.
GRID = {"n_estimators": [1, 2, 3]}
CV = 2


def small_classifier(**params):
    return BoostResNetClassifier(**{**SMALL_BOOST, **params})


def small_regressor(**params):
    return BoostResNetRegressor(**{**SMALL_BOOST, **params})


def split(X, y):
    return X[::2], y[::2], X[1::2], y[1::2]


# -- staged_score --------------------------------------------------------------


def cases(binary_data, multiclass_data, regression_data):
    X_reg, y_reg = regression_data
    return [
        (small_classifier, *binary_data),
        (small_classifier, *multiclass_data),
        (small_regressor, X_reg, y_reg),
        (small_regressor, X_reg, np.column_stack([y_reg, -0.01 * y_reg**2])),
    ]


def test_staged_score_equals_refitting_at_every_depth(binary_data, multiclass_data, regression_data):
    # Round t of a fit does not depend on n_estimators, so a model refitted
    # with k blocks is the first k stages of the deeper one: validation_curve
    # and staged_score must draw the same curve.
    for make, X, y in cases(binary_data, multiclass_data, regression_data):
        X_train, y_train, X_test, y_test = split(X, y)
        est = make(n_estimators=3).fit(X_train, y_train)
        assert est.n_estimators_ == 3
        staged = list(est.staged_score(X_test, y_test))
        refitted = [
            make(n_estimators=k).fit(X_train, y_train).score(X_test, y_test) for k in (1, 2, 3)
        ]
        np.testing.assert_allclose(staged, refitted, rtol=1e-9, atol=1e-12)
        assert all(isinstance(score, float) for score in staged)

    X, y = binary_data
    train, test = np.arange(0, len(y), 2), np.arange(1, len(y), 2)
    _, test_scores = validation_curve(
        small_classifier(), X, y, param_name="n_estimators", param_range=[1, 2, 3],
        cv=[(train, test)],
    )
    staged = list(small_classifier().fit(X[train], y[train]).staged_score(X[test], y[test]))
    np.testing.assert_allclose(test_scores[:, 0], staged, rtol=1e-9)


def test_staged_score_sample_weight(binary_data, multiclass_data, regression_data):
    for make, X, y in cases(binary_data, multiclass_data, regression_data):
        X_train, y_train, X_test, y_test = split(X, y)
        est = make().fit(X_train, y_train)
        weight = np.linspace(0.0, 3.0, len(y_test)) ** 2
        weighted = list(est.staged_score(X_test, y_test, sample_weight=weight))
        plain = list(est.staged_score(X_test, y_test))
        assert weighted[-1] == pytest.approx(est.score(X_test, y_test, sample_weight=weight))
        assert plain[-1] == pytest.approx(est.score(X_test, y_test))
        assert not np.allclose(weighted, plain)
        # Zero weight is the same as leaving the sample out.
        keep = np.arange(len(y_test)) % 3 > 0
        dropped = list(est.staged_score(X_test, y_test, sample_weight=keep.astype(float)))
        np.testing.assert_allclose(dropped, list(est.staged_score(X_test[keep], y_test[keep])))


def test_staged_score_errors(binary_data):
    X, y = binary_data
    with pytest.raises(NotFittedError):
        next(small_classifier().staged_score(X, y))
    clf = small_classifier().fit(X, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        next(clf.staged_score(X, y[:-1]))
    with pytest.raises(ValueError, match="features"):
        next(clf.staged_score(X[:, :3], y))


# -- grid search and successive halving, in parallel ---------------------------


class ThreadRecordingBlock(torch.nn.Module):
    """A residual branch that records torch's intra-op thread count while it trains."""

    def __init__(self, width):
        super().__init__()
        self.branch = torch.nn.Sequential(
            torch.nn.Linear(width, 16), torch.nn.ReLU(), torch.nn.Linear(16, width)
        )
        self.max_threads = 0

    def forward(self, g):
        if self.training:
            self.max_threads = max(self.max_threads, torch.get_num_threads())
        return self.branch(g)


def training_threads(estimator, X, y):
    """Largest thread count seen by the blocks during fit (a scorer, read in the worker)."""
    return max(block.max_threads for block in estimator.module_.blocks)


def worker_pid(estimator, X, y):
    return os.getpid()


def test_torch_follows_joblib_thread_limit_in_loky_workers(binary_data, monkeypatch):
    # loky exports OMP_NUM_THREADS=cpu_count // n_jobs (and the MKL equivalent)
    # to its workers unless the parent already sets it; torch reads it when the
    # worker imports it.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    limit = max(1, joblib.cpu_count() // 2)
    X, y = binary_data
    before = torch.get_num_threads()
    search = GridSearchCV(
        small_classifier(block=ThreadRecordingBlock),
        GRID,
        scoring={"accuracy": "accuracy", "threads": training_threads, "pid": worker_pid},
        refit="accuracy",
        cv=CV,
        n_jobs=2,
    ).fit(X, y)
    threads = np.concatenate([search.cv_results_[f"split{i}_test_threads"] for i in range(CV)])
    pids = np.concatenate([search.cv_results_[f"split{i}_test_pid"] for i in range(CV)])
    assert os.getpid() not in pids
    np.testing.assert_array_equal(threads, limit)
    assert torch.get_num_threads() == before


@pytest.fixture(scope="module")
def reference_search():
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=200, n_features=6, n_informative=4, random_state=0)
    search = GridSearchCV(small_classifier(), GRID, cv=CV, n_jobs=1).fit(X, y)
    return X, y, search


def assert_same_search(search, reference):
    assert search.best_params_ == reference.best_params_
    for key in ("mean_test_score", *(f"split{i}_test_score" for i in range(CV))):
        np.testing.assert_allclose(search.cv_results_[key], reference.cv_results_[key], rtol=1e-12)


def test_grid_search_n_jobs_2_equals_n_jobs_1(reference_search):
    X, y, reference = reference_search
    # One thread per worker whatever the core count: float results then match
    # the single-threaded reference exactly.
    with parallel_config(backend="loky", inner_max_num_threads=1):
        search = GridSearchCV(small_classifier(), GRID, cv=CV, n_jobs=2).fit(X, y)
    assert_same_search(search, reference)


def test_threaded_search_is_deterministic(reference_search):
    # Threads share torch's global generator; the fits must still only depend
    # on their own random_state.
    X, y, reference = reference_search
    with parallel_config(backend="threading"):
        search = GridSearchCV(small_classifier(), GRID, cv=CV, n_jobs=2).fit(X, y)
    assert_same_search(search, reference)


def test_dask_search_equals_n_jobs_1(reference_search):
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    X, y, reference = reference_search
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster, Client(cluster):
        with parallel_config(backend="dask"):
            search = GridSearchCV(small_classifier(), GRID, cv=CV).fit(X, y)
    assert_same_search(search, reference)


def test_halving_over_blocks_in_parallel(binary_data):
    X, y = binary_data

    def halving(n_jobs):
        return HalvingGridSearchCV(
            small_classifier(),
            {"learning_rate": [0.25, 0.5, 1.0, 2.0]},
            resource="n_estimators",
            min_resources=1,
            max_resources=4,
            factor=2,
            cv=CV,
            n_jobs=n_jobs,
            random_state=0,
        ).fit(X, y)

    sequential = halving(1)
    assert list(sequential.n_resources_) == [1, 2, 4]
    assert list(sequential.n_candidates_) == [4, 2, 1]
    assert sequential.best_estimator_.n_estimators == 4
    with parallel_config(backend="loky", inner_max_num_threads=1):
        parallel = halving(2)
    assert parallel.best_params_ == sequential.best_params_
    np.testing.assert_allclose(
        parallel.cv_results_["mean_test_score"], sequential.cv_results_["mean_test_score"]
    )
