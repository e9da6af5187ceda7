"""Tests of the end-to-end estimators ResNetClassifier and ResNetRegressor."""

import numpy as np
import pytest
import torch
from _params import SMALL_E2E
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_resboost import ResNetClassifier, ResNetRegressor


def _expected_failed_checks(estimator):
    reason = (
        "the stem standardises the features with the unweighted mean and standard "
        "deviation of the rows fit gets: a row of weight 0 still counts, a repeated "
        "row counts twice (and on more rows than batch_size the minibatches differ)"
    )
    return {
        "check_sample_weight_equivalence_on_dense_data": reason,
        "check_sample_weight_equivalence_on_sparse_data": reason,
    }


@parametrize_with_checks(
    [ResNetClassifier(**SMALL_E2E), ResNetRegressor(**SMALL_E2E)],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def iris():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def friedman():
    from sklearn.datasets import make_friedman1

    return make_friedman1(n_samples=200, random_state=0)


def test_network_has_the_boosted_structure(iris):
    X, y = iris
    clf = ResNetClassifier(**SMALL_E2E).fit(X, y)
    module = clf.module_
    assert len(module.blocks) == 2
    assert len(module.heads) == 3
    assert module.skip
    np.testing.assert_allclose(module.stem.center.numpy(), X.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(module.stem.scale.numpy(), X.std(axis=0), rtol=1e-6)
    # Only the final head is trained; the others keep the prior.
    for head in module.heads[:-1]:
        assert torch.all(head.weight == 0)
    assert torch.any(module.heads[-1].weight != 0)
    assert clf.score(X, y) > 0.9
    assert [h["epoch"] for h in clf.history_] == list(range(1, SMALL_E2E["max_epochs"] + 1))
    assert all(np.isfinite(h["train_loss"]) for h in clf.history_)


def test_plain_network_is_trained(iris):
    X, y = iris
    clf = ResNetClassifier(**SMALL_E2E, skip=False).fit(X, y)
    assert not clf.module_.skip
    # A zero-initialised last layer would make a plain network constant.
    assert clf.decision_function(X).std(axis=0).min() > 1e-3
    assert clf.score(X, y) > 0.9
    skip = ResNetClassifier(**SMALL_E2E).fit(X, y)
    assert not np.allclose(clf.decision_function(X), skip.decision_function(X))


def test_inspection_sees_the_ensemble_and_the_plain_network(iris):
    from sklearn_resboost import inspection

    X, y = iris
    scores = {}
    for skip in (True, False):
        clf = ResNetClassifier(**{**SMALL_E2E, "n_blocks": 4}, skip=skip).fit(X, y)
        scores[skip] = inspection.lesion_study(clf, X, y, random_state=0).single_scores
    # Deleting one block of the residual network costs little; of the plain
    # network, most of its accuracy (Veit et al., 2016).
    assert scores[True].min() > 0.8
    assert scores[False].max() < 0.8


def test_same_seed_same_model_and_global_rng_untouched(iris):
    X, y = iris
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    first = ResNetClassifier(**{**SMALL_E2E, "random_state": 3}, dropout=0.1).fit(X, y)
    assert torch.equal(torch.random.get_rng_state(), state)
    second = ResNetClassifier(**{**SMALL_E2E, "random_state": 3}, dropout=0.1).fit(X, y)
    np.testing.assert_array_equal(first.decision_function(X), second.decision_function(X))
    other = ResNetClassifier(**{**SMALL_E2E, "random_state": 4}, dropout=0.1).fit(X, y)
    assert not np.array_equal(first.decision_function(X), other.decision_function(X))


def test_input_noise_trains_the_stem_with_noise(iris):
    X, y = iris
    noisy = ResNetClassifier(**{**SMALL_E2E, "random_state": 3}, input_noise=1.0).fit(X, y)
    quiet = ResNetClassifier(**{**SMALL_E2E, "random_state": 3}, input_noise=0.0).fit(X, y)
    assert noisy.module_.stem.noise == 1.0
    assert not np.allclose(noisy.decision_function(X), quiet.decision_function(X))
    np.testing.assert_array_equal(noisy.decision_function(X), noisy.decision_function(X))


def test_early_stopping_keeps_the_best_epoch(friedman):
    X, y = friedman
    y = y + np.random.RandomState(0).normal(scale=3.0, size=len(y))
    params = dict(SMALL_E2E, width=32, hidden_size=64, lr=3e-2, early_stopping=True)
    del params["max_epochs"]
    reg = ResNetRegressor(**params, max_epochs=200, n_iter_no_change=3).fit(X, y)
    history = reg.history_
    assert len(history) < 200
    valid = [h["valid_loss"] for h in history]
    best = int(np.argmin(valid))
    assert best == len(history) - 4
    assert history[best]["valid_loss_best"]
    # Training for exactly the best epoch's count without stopping gives the
    # same weights as the early-stopped fit.
    exact = ResNetRegressor(**params, max_epochs=best + 1, n_iter_no_change=1000).fit(X, y)
    np.testing.assert_array_equal(reg.predict(X), exact.predict(X))


def test_callbacks_run_and_are_not_modified(iris):
    from skorch.callbacks import Callback

    class RecordLR(Callback):
        def __init__(self):
            self.calls = 0

        def on_epoch_end(self, net, **kwargs):
            self.calls += 1
            net.history.record("lr_seen", net.optimizer_.param_groups[0]["lr"])

    X, y = iris
    callback = RecordLR()
    clf = ResNetClassifier(**SMALL_E2E, callbacks=[callback]).fit(X, y)
    assert [h["lr_seen"] for h in clf.history_] == [1e-2] * SMALL_E2E["max_epochs"]
    assert callback.calls == 0
    assert clf.callbacks[0] is callback


def test_multi_output_regression(friedman):
    X, y = friedman
    Y = np.column_stack([y, 1000 * y + 5])
    reg = ResNetRegressor(**SMALL_E2E).fit(X, Y)
    assert reg.n_outputs_ == 2
    assert reg.predict(X).shape == (len(X), 2)
    np.testing.assert_allclose(reg.module_.output_scale.numpy(), Y.std(axis=0), rtol=1e-5)
    assert reg.score(X, Y) > 0.7
    single = ResNetRegressor(**SMALL_E2E).fit(X, y)
    assert single.predict(X).shape == (len(X),)


@pytest.mark.parametrize("loss", ["absolute_error", "huber"])
def test_robust_regression_losses(friedman, loss):
    X, y = friedman
    reg = ResNetRegressor(**SMALL_E2E, loss=loss).fit(X, y)
    assert reg.score(X, y) > 0.5


@pytest.mark.parametrize("n_classes", [2, 3])
def test_exponential_loss_probabilities(iris, n_classes):
    from scipy.special import expit, softmax

    X, y = iris
    keep = y < n_classes
    X, y = X[keep], y[keep]
    clf = ResNetClassifier(**SMALL_E2E, loss="exponential").fit(X, y)
    z = clf.decision_function(X)
    proba = clf.predict_proba(X)
    expected = softmax(2 * z, axis=1) if n_classes > 2 else np.column_stack(
        [1 - expit(2 * z), expit(2 * z)]
    )
    np.testing.assert_allclose(proba, expected)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert clf.score(X, y) > 0.9


def test_string_labels_and_class_weight(iris):
    X, y = iris
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = ResNetClassifier(**SMALL_E2E, class_weight={"setosa": 3.0}).fit(X, labels)
    assert set(clf.predict(X)) <= set(labels)
    balanced = ResNetClassifier(**SMALL_E2E, class_weight="balanced").fit(X, labels)
    assert balanced.score(X, labels) > 0.9
    with pytest.raises(ValueError, match="class_weight has labels"):
        ResNetClassifier(**SMALL_E2E, class_weight={"rose": 1.0}).fit(X, labels)


# The prior of a class whose samples all have zero weight is log(0) = -inf.
@pytest.mark.filterwarnings("ignore:divide by zero encountered in log:RuntimeWarning")
def test_zero_weights_drop_samples(iris):
    X, y = iris
    weight = np.ones(len(y))
    weight[y == 2] = 0
    with pytest.raises(ValueError, match="non-zero"):
        ResNetClassifier(**SMALL_E2E).fit(X, y, sample_weight=np.zeros(len(y)))
    clf = ResNetClassifier(**SMALL_E2E).fit(X, y, sample_weight=weight)
    assert clf.n_classes_ == 3
    assert not np.any(clf.predict(X) == 2)
    proba = clf.predict_proba(X)
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba[:, 2], 0.0, atol=1e-9)


def test_custom_block(iris):
    X, y = iris

    def block(width):
        return torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.Tanh(), torch.nn.Linear(width, width))

    clf = ResNetClassifier(**SMALL_E2E, block=block).fit(X, y)
    assert isinstance(clf.module_.blocks[0], torch.nn.Sequential)
    assert clf.score(X, y) > 0.9
    with pytest.raises(ValueError, match="must return a torch.nn.Module"):
        ResNetClassifier(**SMALL_E2E, block=lambda width: "block").fit(X, y)
    with pytest.raises(ValueError, match="no layer with a 'weight'"):
        ResNetClassifier(**SMALL_E2E, block=lambda width: torch.nn.ReLU()).fit(X, y)
    # Without skip connections nothing is zeroed, so a weightless block is fine.
    plain = ResNetClassifier(**SMALL_E2E, skip=False, block=lambda width: torch.nn.ReLU()).fit(X, y)
    assert len(plain.module_.blocks) == 2


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_blocks": 0}, "n_blocks"),
        ({"max_epochs": 0}, "max_epochs"),
        ({"skip": "yes"}, "skip"),
        ({"callbacks": "disable"}, "callbacks"),
        ({"loss": "hinge"}, "loss"),
    ],
)
def test_invalid_parameters(iris, params, match):
    X, y = iris
    with pytest.raises(ValueError, match=match):
        ResNetClassifier(**{**SMALL_E2E, **params}).fit(X, y)


def test_cuda_without_cuda_is_a_clear_error(iris):
    X, y = iris
    with pytest.raises(ValueError, match="CUDA is not available"):
        ResNetClassifier(**{**SMALL_E2E, "device": "cuda"}).fit(X, y)


@pytest.mark.cuda
def test_fit_on_cuda(iris):
    X, y = iris
    clf = ResNetClassifier(**{**SMALL_E2E, "device": "cuda"}).fit(X, y)
    assert clf.device_.type == "cuda"
    assert next(clf.module_.parameters()).is_cuda
    assert clf.score(X, y) > 0.9
