import threading
from unittest import mock

import numpy as np
import pytest
import torch

from sklearn_resboost._threads import (
    DEFAULT_N_THREADS,
    limited_threads,
    resolve_n_threads,
)

BAD_VALUE = "n_threads must be an int >= 1 or None"


@pytest.fixture
def caller_threads():
    # conftest runs the suite at one thread; start from another count so that
    # a restore to 1 cannot pass by accident.
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    yield 3
    torch.set_num_threads(before)


def test_limits_and_restores(caller_threads):
    with limited_threads(2) as n_threads:
        assert n_threads == 2
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == caller_threads


def test_restores_after_an_exception(caller_threads):
    with pytest.raises(RuntimeError, match="inside"), limited_threads(1):
        raise RuntimeError("inside")
    assert torch.get_num_threads() == caller_threads


def test_nested_limits_restore_the_enclosing_count(caller_threads):
    with limited_threads(2):
        with limited_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(ValueError), limited_threads(4):
            assert torch.get_num_threads() == 4
            raise ValueError
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == caller_threads


def test_none_is_the_default(caller_threads):
    assert resolve_n_threads(None) == DEFAULT_N_THREADS == 1
    with limited_threads(None) as n_threads:
        assert n_threads == torch.get_num_threads() == 1
    assert torch.get_num_threads() == caller_threads


def test_accepts_numpy_integers():
    assert resolve_n_threads(np.int64(2)) == 2
    assert type(resolve_n_threads(np.int64(2))) is int


@pytest.mark.parametrize("n_threads", [0, -1])
def test_rejects_counts_below_one(n_threads, caller_threads):
    with pytest.raises(ValueError, match=BAD_VALUE), limited_threads(n_threads):
        pass  # pragma: no cover
    assert torch.get_num_threads() == caller_threads


@pytest.mark.parametrize("n_threads", [True, 2.0, "2"])
def test_rejects_non_integers(n_threads, caller_threads):
    with pytest.raises(TypeError, match=BAD_VALUE), limited_threads(n_threads):
        pass  # pragma: no cover
    assert torch.get_num_threads() == caller_threads


def test_concurrent_limits_leave_every_thread_at_its_count(caller_threads):
    # Limits of several threads overlap and exit in another order than they
    # entered; afterwards every thread, and a thread started later, has the
    # caller's count, and each limit held its own count while it was active.
    n_workers = 4
    entered = threading.Barrier(n_workers + 1, timeout=30)
    release = [threading.Event() for _ in range(n_workers)]
    inside, after = {}, {}

    def work(i):
        with limited_threads(i + 1):
            entered.wait()
            release[i].wait(timeout=30)
            inside[i] = torch.get_num_threads()
        after[i] = torch.get_num_threads()

    with limited_threads(2):
        workers = [
            threading.Thread(target=work, args=(i,), daemon=True) for i in range(n_workers)
        ]
        for worker in workers:
            worker.start()
        entered.wait()
        assert torch.get_num_threads() == 2
    for i in (2, 0, 3, 1):
        release[i].set()
        workers[i].join()

    assert inside == {i: i + 1 for i in range(n_workers)}
    assert after == {i: caller_threads for i in range(n_workers)}
    assert torch.get_num_threads() == caller_threads
    fresh = []
    thread = threading.Thread(target=lambda: fresh.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert fresh == [caller_threads]


@pytest.mark.parametrize(
    "make, params",
    [
        ("BoostResNetClassifier", {"n_estimators": 2}),
        ("ResNetClassifier", {"n_blocks": 1, "max_epochs": 2}),
    ],
)
def test_estimators_use_their_thread_count_and_restore_the_callers(make, params):
    from sklearn.datasets import make_classification

    import sklearn_resboost

    X, y = make_classification(n_samples=80, n_features=4, random_state=0)
    seen = []
    original = torch.nn.Linear.forward

    def forward(self, x):
        seen.append(torch.get_num_threads())
        return original(self, x)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        est = getattr(sklearn_resboost, make)(
            **params, width=4, hidden_size=4, n_threads=1, random_state=0
        )
        with mock.patch.object(torch.nn.Linear, "forward", forward):
            est.fit(X, y)
            est.predict_proba(X)
        assert set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
