"""The small estimator settings the test modules share, defined once.

A module that needs another size says so where it uses one of these
(``{**SMALL_BOOST, "n_estimators": 6}``). ``tests/test_golden.py`` keeps its
own: it records a fixture.
"""

# Boosted estimators that learn the test problems well enough for the score checks.
SMALL_BOOST = dict(
    n_estimators=3, epochs_per_block=2, batch_size=32, lr=1e-2, width=16, hidden_size=16,
    device="cpu", random_state=0,
)  # fmt: skip
# The smallest boosted estimators, for tests of behaviour rather than of accuracy.
TINY_BOOST = {**SMALL_BOOST, "width": 8, "hidden_size": 8}
# The smallest end-to-end estimators.
TINY_E2E = dict(
    n_blocks=2, max_epochs=3, batch_size=32, lr=1e-2, width=8, hidden_size=8, device="cpu",
    random_state=0,
)  # fmt: skip
