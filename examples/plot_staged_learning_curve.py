"""
=================================================
Scoring every number of blocks from a single fit
=================================================

A boosted residual network is its own sequence of smaller models: the head of
stage ``t`` reads the representation after ``t`` blocks, and round ``t`` of a
fit does not depend on how many rounds follow. The network fitted with ``T``
blocks therefore contains the networks fitted with ``1, ..., T - 1`` blocks,
and :meth:`~sklearn_resboost.BoostResNetClassifier.staged_score` scores all of
them in one pass over the data, as GradientBoosting's staged methods do.

This example draws the test-score learning curve over the number of
boosting rounds twice: from one fit with ``staged_score``, and with
:func:`sklearn.model_selection.validation_curve`, which refits the network
for every ``n_estimators``. The curves are the same; the single fit costs a
fraction of the time.

A round that does not lower the training loss is discarded, so a fit may keep
fewer blocks than it ran rounds; the model after such a round is the model
before it.
"""

# %%
# Data and model
# --------------
import os
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split, validation_curve

from sklearn_resboost import BoostResNetClassifier

# The test suite sets SKLEARN_RESBOOST_FAST_EXAMPLES=1 to run a smaller version
# of this example; the gallery shows the full one.
FAST = os.environ.get("SKLEARN_RESBOOST_FAST_EXAMPLES") == "1"

X, y = load_digits(return_X_y=True)
train, test = train_test_split(np.arange(len(y)), stratify=y, random_state=0)
depths = np.arange(1, 5 if FAST else 11)
clf = BoostResNetClassifier(
    n_estimators=depths[-1],
    width=32,
    hidden_size=32,
    epochs_per_block=2,
    lr=1e-2,
    device="cpu",
    random_state=0,
)
# The first fit in a process loads part of torch's optimiser machinery; a
# throwaway fit keeps that out of both timings.
BoostResNetClassifier(n_estimators=1, epochs_per_block=1, width=4, hidden_size=4).fit(X[:50], y[:50])

# %%
# One fit, every depth
# --------------------
# ``staged_score`` yields the accuracy after each kept block; the network
# runs once over the test set. A monitor records the round after which each
# block was kept (``monitor(i, ...)`` is called after every kept round ``i``,
# counted from 0), so that every round can be given the model it left.
start = time.perf_counter()
kept_after = []
clf.fit(X[train], y[train], monitor=lambda i, est, _: kept_after.append(i + 1))
blocks_by_round = np.searchsorted(kept_after, depths, side="right")
staged_test = np.array(list(clf.staged_score(X[test], y[test])))[blocks_by_round - 1]
staged_train = np.array(list(clf.staged_score(X[train], y[train])))[blocks_by_round - 1]
staged_time = time.perf_counter() - start
print(f"{len(depths)} rounds, {clf.n_estimators_} blocks kept")

# %%
# Refitting at every depth
# ------------------------
# ``validation_curve`` clones and refits the estimator for each value of
# ``n_estimators``, here on the same train/test split.
start = time.perf_counter()
refit_train, refit_test = validation_curve(
    clf, X, y, param_name="n_estimators", param_range=depths, cv=[(train, test)]
)
refit_time = time.perf_counter() - start

print(f"{'rounds':>6} {'staged test':>12} {'refitted test':>14}")
for depth, staged, refitted in zip(depths, staged_test, refit_test[:, 0]):
    print(f"{depth:>6d} {staged:>12.4f} {refitted:>14.4f}")
print(f"largest difference: {np.max(np.abs(np.subtract(staged_test, refit_test[:, 0]))):.2e}")
print(f"one fit + staged_score: {staged_time:.2f} s")
print(f"validation_curve:       {refit_time:.2f} s ({refit_time / staged_time:.1f}x)")

# %%
# The learning curves and the cost
# --------------------------------
# Refitting trains ``1 + 2 + ... + T = T (T + 1) / 2`` rounds where the single
# fit trains ``T``: the saving, about ``(T + 1) / 2``, grows with the depth
# searched.
fig, (ax_curve, ax_time) = plt.subplots(
    1, 2, figsize=(10, 4), layout="constrained", gridspec_kw={"width_ratios": [2, 1]}
)
ax_curve.plot(depths, staged_train, "-", color="tab:blue", label="train, staged_score")
ax_curve.plot(depths, staged_test, "-", color="tab:orange", label="test, staged_score")
ax_curve.plot(depths, refit_train[:, 0], "o", color="tab:blue", mfc="none", label="train, refitted")
ax_curve.plot(depths, refit_test[:, 0], "o", color="tab:orange", mfc="none", label="test, refitted")
ax_curve.set(
    xlabel="boosting rounds (n_estimators)",
    ylabel="accuracy",
    xticks=depths,
    title="Learning curve over rounds",
)
ax_curve.legend()
bars = ax_time.bar(
    ["one fit +\nstaged_score", "validation_curve\n(refit per depth)"],
    [staged_time, refit_time],
    color=["tab:green", "tab:gray"],
)
ax_time.bar_label(bars, fmt="%.1f s")
ax_time.margins(y=0.15)
ax_time.set(ylabel="seconds", title="Time for the whole curve")
plt.show()
