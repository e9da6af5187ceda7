"""The small estimator settings the test modules share, defined once.

A module that needs another value says so where it uses one of these
(``{**SMALL_BOOST, "n_estimators": 6}``). The sets fix ``batch_size``,
``device`` and ``random_state``: a fit is the same for every data set size,
on every machine and in worker processes, which do not inherit the test
session's rule that ``device="auto"`` means the CPU. ``tests/test_golden.py``
keeps its own: it records a fixture.

The sets live here rather than in ``conftest.py``: the repository root has a
``conftest.py`` too, and ``from conftest import ...`` gets whichever of the two
pytest imported last.
"""

# Boosted estimators that learn the test problems well enough for the score checks.
SMALL_BOOST = dict(
    n_estimators=3, epochs_per_block=2, batch_size=32, lr=1e-2, width=16, hidden_size=16,
    device="cpu", random_state=0,
)  # fmt: skip
# End-to-end estimators that learn the test problems well enough for the score checks.
SMALL_E2E = dict(
    n_blocks=2, max_epochs=10, batch_size=32, lr=1e-2, width=16, hidden_size=16,
    device="cpu", random_state=0,
)  # fmt: skip
# The smallest boosted estimators, for tests of behaviour rather than of accuracy
# (input checks, files, faults, the skorch layer).
TINY_BOOST = dict(
    n_estimators=2, epochs_per_block=1, batch_size=32, lr=1e-2, width=8, hidden_size=8,
    device="cpu", random_state=0,
)  # fmt: skip
# The smallest end-to-end estimators, for tests of behaviour rather than of accuracy.
TINY_E2E = dict(
    n_blocks=2, max_epochs=2, batch_size=32, lr=1e-2, width=8, hidden_size=8,
    device="cpu", random_state=0,
)  # fmt: skip


def tiny_estimators():
    """``(class, TINY settings)`` of the four estimators, for tests run on each of them."""
    from sklearn_resboost import (
        BoostResNetClassifier,
        BoostResNetRegressor,
        ResNetClassifier,
        ResNetRegressor,
    )

    return [
        (BoostResNetClassifier, TINY_BOOST),
        (BoostResNetRegressor, TINY_BOOST),
        (ResNetClassifier, TINY_E2E),
        (ResNetRegressor, TINY_E2E),
    ]
