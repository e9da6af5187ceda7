"""The boosted estimators: telescoping, training guarantees, controls, input handling."""

import pickle
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import numpy as np
import pytest
import torch
from _params import SMALL_BOOST
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import recall_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_resboost import BoostResNetClassifier, BoostResNetRegressor, _boost
from sklearn_resboost._edges import is_perfect
from sklearn_resboost._trainer import RoundTrainer

# Four rounds, to sabotage, poison or interrupt a later one; four epochs each,
# so that a round can fit separable blobs perfectly.
BOOST = {**SMALL_BOOST, "n_estimators": 4, "epochs_per_block": 4}


def small_classifier(**params):
    return BoostResNetClassifier(**{**BOOST, **params})


def small_regressor(**params):
    return BoostResNetRegressor(**{**BOOST, **params})


def fitted_cases(binary_data, multiclass_data, regression_data):
    X_reg, y_reg = regression_data
    y_multi = np.column_stack([y_reg, -2 * y_reg + 100])
    return [
        (small_classifier(loss="exponential"), *binary_data),
        (small_classifier(loss="log_loss"), *binary_data),
        (small_classifier(loss="exponential"), *multiclass_data),
        (small_classifier(loss="log_loss"), *multiclass_data),
        (small_regressor(loss="squared_error"), X_reg, y_reg),
        (small_regressor(loss="absolute_error"), X_reg, y_reg),
        (small_regressor(loss="huber"), X_reg, y_reg),
        (small_regressor(loss="squared_error"), X_reg, y_multi),
    ]


@pytest.fixture
def cases(binary_data, multiclass_data, regression_data):
    return fitted_cases(binary_data, multiclass_data, regression_data)


def final_output(est, X):
    if isinstance(est, BoostResNetClassifier):
        return est.decision_function(X)
    return est.predict(X)


def staged_output(est, X):
    if isinstance(est, BoostResNetClassifier):
        return list(est.staged_decision_function(X))
    return list(est.staged_predict(X))


def test_telescoping_and_staged_outputs(cases):
    for est, X, y in cases:
        est.fit(X, y)
        final = final_output(est, X)
        hyp = est.hypothesis_ensemble(X)
        feat = est.feature_ensemble(X)
        assert hyp.shape == feat.shape == (est.n_estimators_ + 1, *final.shape)
        np.testing.assert_allclose(hyp.sum(axis=0), final, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(feat.sum(axis=0), final, rtol=1e-6, atol=1e-6)
        staged = staged_output(est, X)
        assert len(staged) == est.n_estimators_
        np.testing.assert_allclose(staged[-1], final, rtol=1e-12, atol=1e-12)
        assert len(list(est.staged_predict(X))) == est.n_estimators_


def test_stage_zero_is_the_prior(multiclass_data, regression_data):
    X, y = multiclass_data
    clf = small_classifier(loss="log_loss").fit(X, y)
    prior = clf.hypothesis_ensemble(X)[0]
    np.testing.assert_allclose(prior, np.tile(np.log(np.bincount(y) / len(y)), (len(y), 1)), rtol=1e-6)
    X, y = regression_data
    reg = small_regressor().fit(X, y)
    np.testing.assert_allclose(reg.hypothesis_ensemble(X)[0], np.full(len(y), y.mean()), rtol=1e-6)


def test_train_score_never_increases(cases):
    for est, X, y in cases:
        est.set_params(n_estimators=6).fit(X, y)
        assert len(est.train_score_) == est.n_estimators_ + 1
        assert np.all(np.diff(est.train_score_) <= 0), est


def test_round_that_hurts_is_rolled_back(binary_data):
    X, y = binary_data
    original = RoundTrainer.fit
    calls = []

    def sabotaged(self, forward, modules, *args, **kwargs):
        result = original(self, forward, modules, *args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            with torch.no_grad():
                for param in modules[-1].parameters():
                    param.mul_(-50.0)
        return result

    with mock.patch.object(RoundTrainer, "fit", sabotaged):
        clf = small_classifier().fit(X, y)
    assert len(calls) == 4
    assert clf.n_estimators_ == 3
    assert np.all(np.diff(clf.train_score_) <= 0)


def test_non_finite_round_is_rolled_back_with_a_warning(binary_data):
    X, y = binary_data
    original = RoundTrainer.fit
    calls = []

    def poisoned(self, forward, modules, *args, **kwargs):
        result = original(self, forward, modules, *args, **kwargs)
        calls.append(1)
        if len(calls) == 3:
            with torch.no_grad():
                for param in modules[-1].parameters():
                    param.fill_(float("nan"))
        return result

    with mock.patch.object(RoundTrainer, "fit", poisoned):
        with pytest.warns(ConvergenceWarning, match="Round 2"):
            clf = small_classifier().fit(X, y)
    assert clf.n_estimators_ == 2
    assert np.all(np.isfinite(clf.predict_proba(X)))


def test_same_seed_same_model_and_global_rng_untouched(binary_data):
    X, y = binary_data
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = small_classifier(dropout=0.2, subsample=0.7).fit(X, y).predict_proba(X)
    b = small_classifier(dropout=0.2, subsample=0.7).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert torch.equal(torch.get_rng_state(), state)
    c = small_classifier(dropout=0.2, subsample=0.7, random_state=1).fit(X, y).predict_proba(X)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("loss", ["exponential", "log_loss"])
def test_probabilities(loss, binary_data, multiclass_data):
    for X, y in (binary_data, multiclass_data):
        clf = small_classifier(loss=loss).fit(X, y)
        proba = clf.predict_proba(X)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        np.testing.assert_allclose(np.log(proba), clf.predict_log_proba(X))
        np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
        staged = list(clf.staged_predict_proba(X))
        np.testing.assert_allclose(staged[-1], proba)
        scores = clf.decision_function(X)
        factor = 2.0 if loss == "exponential" else 1.0
        if scores.ndim == 1:
            np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-factor * scores)), rtol=1e-6)


def test_string_labels_dataframe_and_dtypes(binary_data):
    pd = pytest.importorskip("pandas")
    X, y = binary_data
    labels = np.array(["no", "yes"])[y]
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    clf = small_classifier().fit(frame, labels)
    np.testing.assert_array_equal(clf.feature_names_in_, frame.columns)
    assert set(clf.predict(frame)) <= {"no", "yes"}
    assert clf.score(frame, labels) > 0.8
    for X_cast in (X.astype(np.float32), np.round(X * 10).astype(np.int64)):
        assert small_classifier().fit(X_cast, y).score(X_cast, y) > 0.8


def test_unscaled_features_are_learned(binary_data):
    X, y = binary_data
    scales = np.logspace(-4, 6, X.shape[1])
    scaled = small_classifier().fit(X, y).score(X, y)
    unscaled = small_classifier().fit(X * scales + 1e3, y).score(X * scales + 1e3, y)
    assert unscaled == pytest.approx(scaled, abs=0.03)


def test_infinite_X_is_refused_and_nan_is_a_missing_value(binary_data):
    X, y = binary_data
    where = np.arange(X.size).reshape(X.shape) == 3
    with pytest.raises(ValueError, match="infinity"):
        small_classifier().fit(np.where(where, np.inf, X), y)
    clf = small_classifier().fit(X, y)
    with pytest.raises(ValueError, match="infinity"):
        clf.predict(np.where(where, np.inf, X))
    assert np.isfinite(clf.predict_proba(np.where(where, np.nan, X))).all()


def test_bad_input_errors(binary_data, regression_data):
    X, y = binary_data
    with pytest.raises(ValueError, match="at least 2 classes"):
        small_classifier().fit(X, np.zeros_like(y))
    clf = small_classifier().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :3])
    with pytest.raises(ValueError, match="Negative values"):
        small_classifier().fit(X, y, sample_weight=np.full(len(y), -1.0))
    with pytest.raises(ValueError, match="non-zero"):
        small_classifier().fit(X, y, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="2 classes with positive weight"):
        small_classifier().fit(X, y, sample_weight=(y == 1).astype(float))
    X_reg, _ = regression_data
    with pytest.raises(ValueError):
        small_regressor().fit(X_reg, np.array(["a", "b"] * 100))
    with pytest.raises(NotFittedError):
        small_regressor().predict(X_reg)


@pytest.mark.parametrize(
    "params",
    [
        {"n_estimators": 0},
        {"learning_rate": 0.0},
        {"loss": "hinge"},
        {"dropout": 1.0},
        {"subsample": 0.0},
        {"gamma": 1.5},
        {"block": "transformer"},
        {"early_stopping": "sometimes"},
        {"batch_size": -1},
    ],
)
def test_invalid_parameters(params, binary_data):
    X, y = binary_data
    with pytest.raises(InvalidParameterError):
        small_classifier(**params).fit(X, y)


def test_devices_are_validated(binary_data):
    X, y = binary_data
    with pytest.raises(ValueError, match="not a valid torch device"):
        small_classifier(device="gpu-7").fit(X, y)
    with mock.patch("torch.cuda.is_available", return_value=False):
        with pytest.raises(ValueError, match="CUDA is not available"):
            small_classifier(device="cuda").fit(X, y)
        clf = small_classifier(device="auto").fit(X, y)
    assert clf.device_ == torch.device("cpu")


def test_custom_block(binary_data):
    X, y = binary_data

    def block(width):
        return torch.nn.Sequential(torch.nn.Linear(width, 8), torch.nn.Tanh(), torch.nn.Linear(8, width))

    clf = small_classifier(block=block).fit(X, y)
    assert all(isinstance(b, torch.nn.Sequential) for b in clf.module_.blocks)
    np.testing.assert_allclose(clf.hypothesis_ensemble(X).sum(0), clf.decision_function(X), atol=1e-6)
    with pytest.raises(ValueError, match="torch.nn.Module"):
        small_classifier(block=lambda width: "not a module").fit(X, y)
    with pytest.raises(ValueError, match="zero-initialise"):
        small_classifier(block=lambda width: torch.nn.ReLU()).fit(X, y)


def test_new_block_starts_as_identity(binary_data):
    X, y = binary_data
    clf = small_classifier()
    block = clf._make_block(0)
    g = torch.randn(5, BOOST["width"])
    assert torch.equal(block(g), torch.zeros_like(g))


def test_gamma_stops_boosting(multiclass_data):
    X, y = multiclass_data
    free = small_classifier(n_estimators=6).fit(X, y)
    threshold = float(np.sort(free.block_edges_)[-2]) if free.n_estimators_ > 2 else 0.5
    stopped = small_classifier(n_estimators=6, gamma=max(threshold, 0.0)).fit(X, y)
    assert stopped.n_estimators_ < free.n_estimators_
    assert np.all(np.asarray(stopped.block_edges_) >= stopped.gamma)


@pytest.mark.parametrize("centers", [2, 3])
def test_perfect_fit_stops_boosting(centers):
    X, y = make_blobs(n_samples=150, centers=centers, cluster_std=0.5, random_state=0)
    # AdaBoost's stop: the paper's loss reaches a perfect fit in few rounds
    # (with the linear stem, whose rounds this fixture was made for).
    clf = small_classifier(
        n_estimators=10, warm_start=True, loss="exponential", numeric_bins=None
    ).fit(X, y)
    assert clf.n_estimators_ < 10
    assert is_perfect(clf.hypothesis_edges_[-1])
    assert not any(is_perfect(edge) for edge in clf.hypothesis_edges_[:-1])
    # A warm start adds no round to a perfect fit.
    clf.set_params(n_estimators=15).fit(X, y)
    assert len(clf.module_.blocks) == clf.n_estimators_ == len(clf.hypothesis_edges_)
    assert clf.n_estimators_ < 10


def test_sample_weight_zero_equals_dropping(binary_data):
    X, y = binary_data
    w = np.ones(len(y))
    w[::7] = 0
    weighted = small_classifier().fit(X, y, sample_weight=w)
    dropped = small_classifier().fit(X[w > 0], y[w > 0])
    np.testing.assert_allclose(weighted.decision_function(X), dropped.decision_function(X), atol=1e-6)


def test_class_weight_balanced_raises_minority_recall():
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=600, n_features=6, weights=[0.93], flip_y=0.05, class_sep=0.6, random_state=3
    )
    plain = small_classifier(loss="log_loss").fit(X, y)
    balanced = small_classifier(loss="log_loss", class_weight="balanced").fit(X, y)
    assert recall_score(y, balanced.predict(X)) > recall_score(y, plain.predict(X))
    by_dict = small_classifier(loss="log_loss", class_weight={0: 1.0, 1: 10.0}).fit(X, y)
    assert recall_score(y, by_dict.predict(X)) > recall_score(y, plain.predict(X))
    with pytest.raises(ValueError, match="class_weight"):
        small_classifier(class_weight={0: 1.0, 7: 2.0}).fit(X, y)


def test_early_stopping_and_validation_scores(multiclass_data):
    X, y = multiclass_data
    clf = small_classifier(
        n_estimators=40, early_stopping=True, n_iter_no_change=2, epochs_per_block=5, lr=1e-2
    ).fit(X, y)
    assert clf.n_estimators_ < 40
    assert len(clf.validation_score_) == clf.n_estimators_ + 1
    assert len(clf.train_score_) == clf.n_estimators_ + 1
    assert np.argmin(clf.validation_score_) == clf.n_estimators_
    off = small_classifier(early_stopping=False).fit(X, y)
    assert off.validation_score_.shape == (0,)


def test_early_stopping_auto_threshold(binary_data):
    X, y = binary_data
    clf = small_classifier(n_estimators=2).fit(X, y)
    assert clf.validation_score_.size == 0


def test_warm_start_equals_single_fit(binary_data, regression_data):
    for make, (X, y) in ((small_classifier, binary_data), (small_regressor, regression_data)):
        single = make(n_estimators=5).fit(X, y)
        warm = make(n_estimators=2, warm_start=True).fit(X, y)
        first_block = warm.module_.blocks[0]
        warm.set_params(n_estimators=5).fit(X, y)
        assert warm.module_.blocks[0] is first_block
        np.testing.assert_allclose(final_output(warm, X), final_output(single, X), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(warm.train_score_, single.train_score_, rtol=1e-6)
        warm.set_params(n_estimators=3)
        with pytest.raises(ValueError, match="warm_start"):
            warm.fit(X, y)


def test_input_noise_regularises_round_zero(binary_data):
    X, y = binary_data
    quiet = small_classifier(input_noise=0.0).fit(X, y)
    noisy = small_classifier(input_noise=1.0).fit(X, y)
    assert noisy.module_.stem.noise == 1.0 and quiet.module_.stem.noise == 0.0
    # Noise only while training: predictions are deterministic.
    np.testing.assert_array_equal(noisy.predict_proba(X), noisy.predict_proba(X))
    assert not np.allclose(noisy.predict_proba(X), quiet.predict_proba(X))
    # Noise makes the training fit worse, not the model random.
    assert noisy.train_score_[1] > quiet.train_score_[1]
    again = small_classifier(input_noise=1.0).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), noisy.predict_proba(X))
    # A warm start's later fits use the current value (for fine-tuning).
    noisy.set_params(warm_start=True, n_estimators=5, input_noise=0.0).fit(X, y)
    assert noisy.module_.stem.noise == 0.0


def test_monitor_stops_and_interrupt_keeps_a_usable_model(binary_data):
    X, y = binary_data
    seen = []

    def monitor(i, est, local_vars):
        seen.append(i)
        return i == 1

    clf = small_classifier(n_estimators=6).fit(X, y, monitor=monitor)
    assert seen == [0, 1] and clf.n_estimators_ == 2

    def interrupt(i, est, local_vars):
        if i == 2:
            raise KeyboardInterrupt
        return False

    with pytest.warns(UserWarning, match="interrupted"):
        clf = small_classifier(n_estimators=6).fit(X, y, monitor=interrupt)
    assert clf.n_estimators_ == 3
    assert clf.predict(X).shape == y.shape

    original = RoundTrainer.fit
    calls = []

    def interrupted_step(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    with mock.patch.object(RoundTrainer, "fit", interrupted_step):
        with pytest.warns(UserWarning, match="rolled back"):
            clf = small_classifier(n_estimators=6).fit(X, y)
    assert clf.n_estimators_ == 2
    assert len(clf.module_.heads) == 3
    assert clf.score(X, y) > 0.7


def test_verbose_table(binary_data, capsys):
    X, y = binary_data
    small_classifier(n_estimators=3, verbose=1).fit(X, y)
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["Iter", "Train", "Loss", "Block"]
    # Boosting may stop early: the time left is a bound, not a promise.
    assert out[0].split()[-2:] == ["Max", "Remaining"]
    assert [line.split()[0] for line in out[1:4]] == ["1", "2", "3"]
    assert out[4] == (
        "Boosting stopped after 3 round(s): n_estimators rounds were run. "
        "The model keeps 3 block(s)."
    )
    small_classifier(n_estimators=2, verbose=2).fit(X, y)
    epochs = [line for line in capsys.readouterr().out.splitlines() if "epoch 1:" in line]
    # The epoch line names the loss and the rows it is measured on.
    assert epochs and "BinaryLogLoss" in epochs[0] and "training rows" in epochs[0]
    assert "mean minibatch loss" in epochs[0]
    # The exponential loss is minimised in log space, and its line says so.
    small_classifier(n_estimators=2, verbose=2, loss="exponential").fit(X, y)
    epochs = [line for line in capsys.readouterr().out.splitlines() if "epoch 1:" in line]
    assert "BinaryExponentialLoss" in epochs[0]
    assert "mean minibatch log of the loss" in epochs[0]


def test_verbose_progress_within_a_round_only_on_a_terminal(binary_data, capsys, monkeypatch):
    X, y = binary_data
    monkeypatch.setattr(_boost, "PROGRESS_AFTER_SECONDS", 0.0)
    small_classifier(n_estimators=1, verbose=1).fit(X, y)
    assert "\r" not in capsys.readouterr().out
    monkeypatch.setattr(_boost.sys.stdout, "isatty", lambda: True, raising=False)
    small_classifier(n_estimators=1, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert "\r  round 0: epoch 1, BinaryLogLoss" in out
    # The progress line is cleared before the table row is printed.
    assert out.split("\r")[-1].startswith("         1 ")


@pytest.mark.parametrize(
    "params, fit_params, reason",
    [
        ({"n_estimators": 2}, {}, "n_estimators"),
        ({"n_estimators": 5}, {"monitor": lambda i, est, _: i == 1}, "monitor"),
        ({"n_estimators": 30, "early_stopping": True, "n_iter_no_change": 1, "tol": 10.0}, {},
         "early_stopping"),
        ({"n_estimators": 30, "gamma": 0.999}, {}, "gamma"),
    ],
)
def test_stop_reason(binary_data, params, fit_params, reason):
    X, y = binary_data
    if reason == "gamma":
        with pytest.warns(ConvergenceWarning, match="kept no block.*below gamma"):
            clf = small_classifier(**params).fit(X, y, **fit_params)
    else:
        clf = small_classifier(**params).fit(X, y, **fit_params)
    assert clf.stop_reason_ == reason


def test_perfect_fit_is_the_stop_reason():
    X, y = make_blobs(n_samples=60, centers=[[-10, -10], [10, 10]], random_state=0)
    clf = small_classifier(n_estimators=10, lr=0.05, loss="exponential").fit(X, y)
    assert clf.n_estimators_ < 10
    assert clf.stop_reason_ == "perfect_fit"


def test_a_round_that_changes_nothing_is_discarded(binary_data, capsys):
    X, y = binary_data
    original = RoundTrainer.fit
    calls = []

    def idle_second_round(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            # Nothing trained: the round keeps the block it started from.
            return 0
        return original(self, *args, **kwargs)

    with mock.patch.object(RoundTrainer, "fit", idle_second_round):
        clf = small_classifier(n_estimators=3, verbose=1).fit(X, y)
    assert "Round 1 changed nothing" in capsys.readouterr().out
    assert clf._n_rounds == 3 and clf.n_estimators_ == 2
    assert all(edge != 0 for edge in clf.block_edges_)


def test_pickle_round_trip(cases):
    for est, X, y in cases[::3]:
        est.fit(X, y)
        restored = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(final_output(restored, X), final_output(est, X))


def test_pipeline_and_grid_search_over_blocks(binary_data):
    X, y = binary_data
    pipe = make_pipeline(StandardScaler(), small_classifier())
    search = GridSearchCV(pipe, {"boostresnetclassifier__n_estimators": [1, 3]}, cv=2).fit(X, y)
    assert search.best_params_["boostresnetclassifier__n_estimators"] in (1, 3)
    assert clone(search.best_estimator_).get_params()["boostresnetclassifier__random_state"] == 0


def test_predictions_from_several_threads_at_once():
    X, y = make_blobs(n_samples=3000, n_features=20, centers=3, random_state=0)
    clf = small_classifier(n_estimators=3, epochs_per_block=1).fit(X, y)
    expected = clf.predict_proba(X)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: clf.predict_proba(X), range(16)))
    for proba in results:
        np.testing.assert_array_equal(proba, expected)
    assert next(clf.module_.parameters()).dtype == torch.float32
