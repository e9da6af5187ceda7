"""Tests of the end-to-end fine-tuning of boosted networks (fine_tune_epochs)."""

import numpy as np
import pytest
import torch
from _params import SMALL_BOOST
from sklearn.datasets import load_digits, make_friedman1
from sklearn.metrics import log_loss

from sklearn_resboost import BoostResNetClassifier, BoostResNetRegressor


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:400], y[:400]


@pytest.fixture(scope="module")
def fitted(digits):
    X, y = digits
    params = dict(SMALL_BOOST, loss="log_loss")
    plain = BoostResNetClassifier(**params).fit(X, y)
    tuned = BoostResNetClassifier(**params, fine_tune_epochs=8).fit(X, y)
    return plain, tuned


def test_default_does_not_fine_tune(fitted):
    plain, tuned = fitted
    assert plain.fine_tune_epochs == 0
    assert plain.fine_tune_history_ == []
    # Boosting itself is unchanged: fine-tuning only starts after it.
    np.testing.assert_array_equal(plain.train_score_, tuned.train_score_)


def test_fine_tuning_lowers_every_stage_loss(fitted, digits):
    X, y = digits
    plain, tuned = fitted
    assert [h["epoch"] for h in tuned.fine_tune_history_] == list(range(1, 9))
    losses = [h["train_loss"] for h in tuned.fine_tune_history_]
    assert losses[-1] < losses[0]
    before = [log_loss(y, p) for p in plain.staged_predict_proba(X)]
    after = [log_loss(y, p) for p in tuned.staged_predict_proba(X)]
    # Every stage's head is supervised, so staged predictions stay meaningful.
    assert all(a < b for a, b in zip(after, before))
    assert tuned.score(X, y) >= plain.score(X, y)


def test_prior_head_is_untouched(fitted):
    plain, tuned = fitted
    for name in ("weight", "bias"):
        assert torch.equal(
            getattr(plain.module_.heads[0], name), getattr(tuned.module_.heads[0], name)
        )
    changed = [
        not torch.equal(a, b)
        for a, b in zip(plain.module_.blocks.parameters(), tuned.module_.blocks.parameters())
    ]
    assert all(changed)


def test_decompositions_still_telescope(fitted, digits):
    X, _ = digits
    _, tuned = fitted
    scores = tuned.decision_function(X)
    np.testing.assert_allclose(tuned.hypothesis_ensemble(X).sum(axis=0), scores, atol=1e-5)
    np.testing.assert_allclose(tuned.feature_ensemble(X).sum(axis=0), scores, atol=1e-4)


def test_same_seed_same_fine_tuned_model(fitted, digits):
    X, y = digits
    _, tuned = fitted
    torch.manual_seed(7)
    state = torch.random.get_rng_state()
    again = BoostResNetClassifier(**tuned.get_params()).fit(X, y)
    assert torch.equal(torch.random.get_rng_state(), state)
    np.testing.assert_array_equal(again.decision_function(X), tuned.decision_function(X))


def test_fine_tuning_with_early_stopping(digits):
    X, y = digits
    params = dict(SMALL_BOOST, early_stopping=True, n_iter_no_change=2)
    clf = BoostResNetClassifier(**params, fine_tune_epochs=30).fit(X, y)
    history = clf.fine_tune_history_
    assert len(history) < 30
    valid = [h["valid_loss"] for h in history]
    best = int(np.argmin(valid))
    assert best == len(history) - 3
    # The best epoch's weights are kept: the same as fine-tuning for exactly
    # that many epochs.
    exact = BoostResNetClassifier(**{**params, "n_iter_no_change": 100}, fine_tune_epochs=best + 1)
    exact.fit(X, y)
    np.testing.assert_array_equal(clf.decision_function(X), exact.decision_function(X))


def test_fine_tuning_regressor_multi_output():
    X, y = make_friedman1(n_samples=200, random_state=0)
    Y = np.column_stack([y, -y])
    # The linear stem: with the encoding, these 3 small rounds already fit
    # better than 5 epochs of fine-tuning at lr=1e-2 improve on.
    params = {**SMALL_BOOST, "numeric_bins": None}
    plain = BoostResNetRegressor(**params).fit(X, Y)
    tuned = BoostResNetRegressor(**params, fine_tune_epochs=5).fit(X, Y)
    assert len(tuned.fine_tune_history_) == 5
    assert tuned.score(X, Y) > plain.score(X, Y)
    np.testing.assert_allclose(tuned.hypothesis_ensemble(X).sum(axis=0), tuned.predict(X), atol=1e-4)


def test_warm_start_fine_tunes_again(digits):
    X, y = digits
    clf = BoostResNetClassifier(
        **SMALL_BOOST, fine_tune_epochs=2, warm_start=True, early_stopping=False
    )
    clf.fit(X, y)
    first = clf.fine_tune_history_
    clf.set_params(n_estimators=4).fit(X, y)
    assert clf.n_estimators_ == 4
    assert len(clf.fine_tune_history_) == 2
    assert clf.fine_tune_history_ is not first


def test_invalid_fine_tune_epochs(digits):
    X, y = digits
    with pytest.raises(ValueError, match="fine_tune_epochs"):
        BoostResNetClassifier(**SMALL_BOOST, fine_tune_epochs=-1).fit(X, y)
