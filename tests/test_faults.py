"""Faults survived: out of device memory at inference and in training, interrupts.

CUDA is simulated on the CPU: the stem (every forward pass starts there) or a
block raises ``torch.OutOfMemoryError`` as CUDA's allocator does.
"""

import warnings
from unittest import mock

import numpy as np
import pytest
import torch
from _params import TINY_BOOST, TINY_E2E
from sklearn.base import is_classifier
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning

from sklearn_resboost import (
    BoostResNetClassifier,
    BoostResNetRegressor,
    ResNetClassifier,
    ResNetRegressor,
    _base,
    _boost,
    _skorch,
    inspection,
)
from sklearn_resboost._modules import MLPBlock, Stem
from sklearn_resboost._trainer import RoundTrainer, map_batches

# Inference batches of the tests; the simulated device fits at most LIMIT rows.
EVAL_BATCH = 64
LIMIT = 10


def _data(classification):
    if classification:
        return make_classification(n_samples=150, n_features=5, random_state=0)
    return make_regression(n_samples=150, n_features=5, random_state=0)


class _SmallDevice:
    """Patches ``Stem.forward`` to run out of memory on batches above ``limit`` rows."""

    def __init__(self, limit):
        self.limit = limit
        self.failed = []
        self.served = []

    def __enter__(self):
        original = Stem.forward

        def forward(stem, x):
            if len(x) > self.limit:
                self.failed.append(len(x))
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            self.served.append(len(x))
            return original(stem, x)

        self._patches = [
            mock.patch.object(Stem, "forward", forward),
            mock.patch.object(_base, "EVAL_BATCH_SIZE", EVAL_BATCH),
            mock.patch.object(_boost, "EVAL_BATCH_SIZE", EVAL_BATCH),
        ]
        for patch in self._patches:
            patch.start()
        return self

    def __exit__(self, *exc):
        for patch in reversed(self._patches):
            patch.stop()


@pytest.fixture(scope="module")
def fitted():
    X_c, y_c = _data(True)
    X_r, y_r = _data(False)
    return [
        (BoostResNetClassifier(**TINY_BOOST).fit(X_c, y_c), X_c, y_c),
        (BoostResNetRegressor(**TINY_BOOST).fit(X_r, y_r), X_r, y_r),
        (ResNetClassifier(**TINY_E2E).fit(X_c, y_c), X_c, y_c),
        (ResNetRegressor(**TINY_E2E).fit(X_r, y_r), X_r, y_r),
    ]


def _outputs(est, X):
    """Every inference path of the estimator, as arrays."""
    outputs = {"predict": est.predict(X)}
    if is_classifier(est):
        outputs["decision_function"] = est.decision_function(X)
        outputs["predict_proba"] = est.predict_proba(X)
    if hasattr(est, "hypothesis_ensemble"):
        staged = est.staged_decision_function if is_classifier(est) else est.staged_predict
        outputs["staged"] = np.stack(list(staged(X)))
        outputs["hypothesis_ensemble"] = est.hypothesis_ensemble(X)
        outputs["feature_ensemble"] = est.feature_ensemble(X)
    return outputs


def test_map_batches_halves_and_keeps_the_smaller_batch():
    sizes = []

    def forward(s):
        n = s.stop - s.start
        sizes.append(n)
        if n > 5:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return list(range(s.start, s.stop))

    chunks = map_batches(forward, 23, 16)
    assert sum(chunks, []) == list(range(23))
    # 16 and 8 fail; 4 works and stays the batch size for the rest.
    assert sizes == [16, 8, 4, 4, 4, 4, 4, 3]


def test_map_batches_gives_up_at_one_row():
    def forward(s):
        raise torch.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(torch.OutOfMemoryError, match="even with one row per batch"):
        map_batches(forward, 10, 8)


def test_inference_retries_with_smaller_batches(fitted):
    for est, X, _ in fitted:
        expected = _outputs(est, X)
        with _SmallDevice(LIMIT) as device:
            outputs = _outputs(est, X)
        assert device.failed, type(est).__name__
        assert max(device.served) <= LIMIT
        for name, values in expected.items():
            if values.dtype.kind == "f":
                # float64 CPU inference: a row does not depend on its batch.
                np.testing.assert_allclose(outputs[name], values, rtol=1e-7, atol=1e-9)
            else:
                np.testing.assert_array_equal(outputs[name], values)


def test_inspection_retries_with_smaller_batches(fitted):
    from sklearn_resboost.inspection import _network, _studies

    for est, X, y in fitted[:2]:
        expected_stages = inspection.staged_scores(est, X, y).scores
        expected_lesion = inspection.lesion_study(est, X, y, n_repeats=1, random_state=0)
        expected_paths = inspection.gradient_by_path_length(est, X, y, random_state=0)
        with _SmallDevice(LIMIT) as device, mock.patch.object(
            _network, "EVAL_BATCH_SIZE", EVAL_BATCH
        ), mock.patch.object(_studies, "GRADIENT_BATCH_SIZE", EVAL_BATCH):
            stages = inspection.staged_scores(est, X, y).scores
            lesion = inspection.lesion_study(est, X, y, n_repeats=1, random_state=0)
            paths = inspection.gradient_by_path_length(est, X, y, random_state=0)
        assert device.failed and max(device.served) <= LIMIT
        np.testing.assert_allclose(stages, expected_stages)
        np.testing.assert_allclose(lesion.scores, expected_lesion.scores)
        np.testing.assert_allclose(paths.gradient_norms, expected_paths.gradient_norms, rtol=1e-6)


def test_inference_empties_the_cuda_cache_between_tries(fitted):
    est, X, _ = fitted[0]
    with _SmallDevice(LIMIT), mock.patch("torch.cuda.is_available", return_value=True), \
            mock.patch("torch.cuda.empty_cache") as empty_cache:
        est.predict(X)
    # 64 -> 32 -> 16 -> 8 rows: one emptying per failed try.
    assert empty_cache.call_count == 3


def test_inference_out_of_memory_with_one_row_is_a_clear_error(fitted):
    for est, X, _ in fitted:
        with _SmallDevice(0), pytest.raises(torch.OutOfMemoryError) as raised:
            est.predict(X)
        assert str(raised.value).startswith(
            "Out of device memory during inference even with one row per batch"
        )
        assert isinstance(raised.value, RuntimeError)


_MLP_FORWARD = MLPBlock.forward


def _forward_out_of_memory_in_training(block, x):
    if torch.is_grad_enabled():
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB")
    return _MLP_FORWARD(block, x)


class _OutOfMemoryInTraining(MLPBlock):
    """An MLP block whose training steps run out of device memory."""

    forward = _forward_out_of_memory_in_training


def _fails_in_round(bad_round):
    rounds = iter(range(1000))

    def block(width):
        if next(rounds) == bad_round:
            return _OutOfMemoryInTraining(width, TINY_BOOST["hidden_size"])
        return MLPBlock(width, TINY_BOOST["hidden_size"])

    return block


@pytest.mark.parametrize("make", [BoostResNetClassifier, BoostResNetRegressor])
@pytest.mark.parametrize("bad_round", [0, 2])
def test_training_out_of_memory_is_clear_and_keeps_the_finished_rounds(make, bad_round):
    X, y = _data(make is BoostResNetClassifier)
    est = make(**{**TINY_BOOST, "n_estimators": 4}, block=_fails_in_round(bad_round))
    with pytest.raises(torch.OutOfMemoryError) as raised:
        est.fit(X, y)
    message = str(raised.value)
    assert message.startswith(f"fit ran out of device memory in round {bad_round}")
    assert "use a smaller batch_size" in message and "batch_size=32" in message
    assert isinstance(raised.value, RuntimeError)
    # The unfinished round is rolled back; the model before it is usable.
    assert est.n_estimators_ == bad_round
    assert len(est.module_.blocks) == bad_round and len(est.module_.heads) == bad_round + 1
    assert isinstance(est.train_score_, np.ndarray) and len(est.train_score_) == bad_round + 1
    assert np.all(np.isfinite(est.predict(X)))
    # ... and a warm start continues from it, redoing the failed round.
    est.set_params(block="mlp", warm_start=True).fit(X, y)
    assert est.n_estimators_ == 4


def test_training_step_out_of_memory_names_the_batch_size():
    X, y = _data(True)
    with mock.patch.object(MLPBlock, "forward", _forward_out_of_memory_in_training):
        with pytest.raises(torch.OutOfMemoryError, match="training step with batch_size=32 rows"):
            BoostResNetClassifier(**TINY_BOOST).fit(X, y)


@pytest.mark.parametrize("make", [ResNetClassifier, ResNetRegressor])
def test_end_to_end_training_out_of_memory_is_clear(make):
    X, y = _data(make is ResNetClassifier)
    with mock.patch.object(MLPBlock, "forward", _forward_out_of_memory_in_training):
        with pytest.raises(torch.OutOfMemoryError) as raised:
            make(**TINY_E2E).fit(X, y)
    assert str(raised.value).startswith(
        "Out of device memory in end-to-end training with batch_size=32 rows"
    )


def _interrupt_in_round(bad_round):
    original = RoundTrainer.fit
    calls = []

    def fit(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == bad_round + 1:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    return mock.patch.object(RoundTrainer, "fit", fit)


@pytest.mark.parametrize("make", [BoostResNetClassifier, BoostResNetRegressor])
def test_interrupt_in_round_zero_leaves_the_prior(make):
    X, y = _data(make is BoostResNetClassifier)
    with _interrupt_in_round(0), pytest.warns(UserWarning, match="interrupted during round 0"):
        est = make(**TINY_BOOST).fit(X, y)
    assert est.n_estimators_ == 0
    assert len(est.module_.heads) == 1 and len(est.module_.blocks) == 0
    if is_classifier(est):
        # The prior predicts the class frequencies.
        frequencies = np.bincount(y) / len(y)
        np.testing.assert_allclose(est.predict_proba(X), np.tile(frequencies, (len(y), 1)))
        assert set(est.predict(X)) == {np.bincount(y).argmax()}
    else:
        np.testing.assert_allclose(est.predict(X), np.full(len(y), y.mean()), rtol=1e-6)
    assert est.hypothesis_ensemble(X).shape[0] == 1
    assert list(est.staged_predict(X)) == []
    assert inspection.staged_scores(est, X, y).scores.shape == (1,)
    # A warm start trains the rounds the interrupt cut.
    est.set_params(warm_start=True, n_estimators=2).fit(X, y)
    assert est.n_estimators_ >= 1


def test_interrupt_in_a_later_round_keeps_the_earlier_ones():
    X, y = _data(True)
    with _interrupt_in_round(2), pytest.warns(UserWarning, match="round 2; the unfinished round"):
        est = BoostResNetClassifier(**{**TINY_BOOST, "n_estimators": 5}).fit(X, y)
    assert est.n_estimators_ == 2
    reference = BoostResNetClassifier(**{**TINY_BOOST, "n_estimators": 2}).fit(X, y)
    np.testing.assert_allclose(est.decision_function(X), reference.decision_function(X))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert est.score(X, y) > 0.7


def test_warm_start_after_an_interrupted_round_reaches_n_estimators():
    X, y = _data(True)
    with _interrupt_in_round(1), pytest.warns(UserWarning, match="interrupted during round 1"):
        est = BoostResNetClassifier(**{**TINY_BOOST, "n_estimators": 4}).fit(X, y)
    assert est.n_estimators_ == 1
    # The interrupted round is not counted as run.
    assert est._n_rounds == 1 and est.stop_reason_ == "interrupted"
    est.set_params(warm_start=True).fit(X, y)
    assert est._n_rounds == 4 and est.n_estimators_ == 4


@pytest.mark.parametrize("make", [BoostResNetClassifier, BoostResNetRegressor])
def test_a_fit_that_keeps_no_block_warns(make):
    X, y = _data(make is BoostResNetClassifier)
    with pytest.warns(ConvergenceWarning, match="kept no block.*predicts the prior.*lr"):
        est = make(**{**TINY_BOOST, "lr": 10.0, "n_iter_no_change": 2}).fit(X, y)
    assert est.n_estimators_ == 0 and est.stop_reason_ == "no_improvement"
    assert np.all(np.isfinite(est.predict(X)))


# -- divergence and interrupts in skorch-driven training ---------------------------


def _fine_tuned_after_boosting(**fine_tune_params):
    """A boosted model, then a warm start that only fine-tunes (no new round)."""
    X, y = _data(True)
    est = BoostResNetClassifier(**TINY_BOOST).fit(X, y)
    est.set_params(warm_start=True, fine_tune_epochs=3, **fine_tune_params)
    return est, X, y


@pytest.mark.parametrize(
    "make, params",
    [
        (ResNetRegressor, {"lr": 1e3, "learning_rate": 1e3}),
        (ResNetClassifier, {"lr": 1e5}),
    ],
)
def test_divergent_end_to_end_training_keeps_a_finite_model(make, params):
    X, y = _data(make is ResNetClassifier)
    with pytest.warns(ConvergenceWarning, match="non-finite loss in epoch .* keeps"):
        est = make(**{**TINY_E2E, "max_epochs": 8, **params}).fit(X, y)
    assert np.all(np.isfinite(est.predict(X)))
    if make is ResNetClassifier:
        assert np.all(np.isfinite(est.predict_proba(X)))
    assert all(np.isfinite(record["train_loss"]) for record in est.history_[:-1])


def test_divergent_fine_tuning_keeps_the_boosted_network():
    est, X, y = _fine_tuned_after_boosting(lr=1e6)
    boosted = est.predict_proba(X)
    with pytest.warns(ConvergenceWarning, match="Fine-tuning gave a non-finite loss"):
        est.fit(X, y)
    proba = est.predict_proba(X)
    assert np.all(np.isfinite(proba))
    # Even the first epoch diverged: the boosted network is what is kept.
    if len(est.fine_tune_history_) == 1:
        np.testing.assert_array_equal(proba, boosted)


def _interrupt_in_the_loss(after_calls):
    calls = []
    original = _skorch.LossCriterion.forward

    def forward(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == after_calls:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    return mock.patch.object(_skorch.LossCriterion, "forward", forward)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_interrupted_end_to_end_training_warns_and_keeps_the_best_epoch(early_stopping):
    X, y = _data(True)
    # Batches of 32 rows: more than one epoch runs before the interrupt.
    with _interrupt_in_the_loss(20), pytest.warns(UserWarning, match="interrupted during epoch"):
        est = ResNetClassifier(**{**TINY_E2E, "max_epochs": 20, "early_stopping": early_stopping})
        est.fit(X, y)
    assert 1 <= len(est.history_) < 20
    assert all("train_loss" in record for record in est.history_)
    assert np.all(np.isfinite(est.predict_proba(X)))


def test_interrupted_fine_tuning_warns():
    est, X, y = _fine_tuned_after_boosting()
    with _interrupt_in_the_loss(3), pytest.warns(UserWarning, match="Fine-tuning was interrupted"):
        est.fit(X, y)
    assert np.all(np.isfinite(est.predict_proba(X)))


@pytest.mark.parametrize("callbacks", [["x"], [object()], [("name", 3)]])
def test_callbacks_that_are_not_skorch_callbacks_are_refused(callbacks):
    X, y = _data(True)
    with pytest.raises(ValueError, match=r"callbacks must be a list of skorch callbacks"):
        ResNetClassifier(**TINY_E2E, callbacks=callbacks).fit(X, y)
