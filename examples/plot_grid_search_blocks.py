"""
=========================================
Searching over the number of blocks
=========================================

``n_estimators`` (the number of residual blocks) and ``learning_rate`` (the
shrinkage of every block) play the roles they have in GradientBoosting, and are
searched the same way. This example tunes them on the breast cancer data with

* :class:`~sklearn.model_selection.GridSearchCV` over a
  :class:`~sklearn.pipeline.Pipeline`, running two fits at a time
  (``n_jobs=2``);
* :class:`~sklearn.model_selection.HalvingGridSearchCV` with the number of
  blocks as the resource: every candidate first gets one block, and only the
  best ones are refitted deeper.

With ``n_jobs=2`` joblib starts two worker processes and limits each to half of
the cores; torch's intra-op threads follow that limit, so the two fits do not
oversubscribe the machine. Each worker imports torch when it starts, which
takes a few seconds: with networks as small as these, that start-up is a good
part of the searches' time on a small machine.
"""

# %%
# Grid search in a pipeline
# -------------------------
# The network's stem standardises the features itself; the scaler stands in
# for any preprocessing step. Inside the pipeline the network's parameters are
# named ``boostresnetclassifier__<name>``.
import os
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import GridSearchCV, HalvingGridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_resboost import BoostResNetClassifier

# The test suite sets SKLEARN_RESBOOST_FAST_EXAMPLES=1 to run a smaller version
# of this example; the gallery shows the full one.
FAST = os.environ.get("SKLEARN_RESBOOST_FAST_EXAMPLES") == "1"

X, y = load_breast_cancer(return_X_y=True)
network = BoostResNetClassifier(
    width=32, hidden_size=32, epochs_per_block=2, device="cpu", random_state=0
)
pipe = make_pipeline(StandardScaler(), network)
blocks = [1, 2] if FAST else [1, 2, 4, 8]
learning_rates = [0.25, 1.0]
param_grid = {
    "boostresnetclassifier__n_estimators": blocks,
    "boostresnetclassifier__learning_rate": learning_rates,
}
start = time.perf_counter()
grid = GridSearchCV(pipe, param_grid, cv=3, n_jobs=2).fit(X, y)
grid_time = time.perf_counter() - start
print(f"grid search: best {grid.best_params_}, accuracy {grid.best_score_:.3f}, {grid_time:.1f} s")

# %%
# Successive halving over blocks
# ------------------------------
# ``resource="n_estimators"`` lets the search spend blocks instead of samples.
# With ``factor=2`` and ``min_resources="exhaust"`` the 4 candidates get 2
# blocks, the best 2 get 4 and the best one 8: the search trains far fewer
# blocks than a full grid over the same depths would. The workers started by
# the grid search are reused.
halving_grid = {"learning_rate": [0.125, 0.25, 0.5, 1.0]}
start = time.perf_counter()
halving = HalvingGridSearchCV(
    network,
    halving_grid,
    resource="n_estimators",
    min_resources="exhaust",
    max_resources=blocks[-1],
    factor=2,
    cv=3,
    n_jobs=2,
    random_state=0,
).fit(X, y)
halving_time = time.perf_counter() - start
print(
    f"successive halving: best {halving.best_params_}, accuracy {halving.best_score_:.3f}, "
    f"{halving_time:.1f} s"
)
print(pd.DataFrame({"blocks": halving.n_resources_, "candidates": halving.n_candidates_}))
trained = 3 * int(np.dot(halving.n_resources_, halving.n_candidates_))
full = 3 * halving.n_candidates_[0] * sum(halving.n_resources_)
print(f"blocks trained by halving: {trained}; by a full grid over the same depths: {full}")

# %%
# Mean test score against the number of blocks
# --------------------------------------------
# Left: the grid search, one line per learning rate, with the spread over the
# folds. As with gradient boosting, the smaller learning rate needs more blocks
# for the same accuracy. Right: every candidate of the halving search at the
# depth it reached; the survivors are joined across iterations.
grid_results = pd.DataFrame(grid.cv_results_)
fig, (ax_grid, ax_halving) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained", sharey=True)
for learning_rate in learning_rates:
    rows = grid_results[grid_results["param_boostresnetclassifier__learning_rate"] == learning_rate]
    ax_grid.errorbar(
        rows["param_boostresnetclassifier__n_estimators"].astype(int),
        rows["mean_test_score"],
        yerr=rows["std_test_score"],
        marker="o",
        capsize=3,
        label=f"learning_rate={learning_rate}",
    )
ax_grid.set(
    xticks=blocks, xlabel="number of blocks", ylabel="mean test accuracy (3-fold CV)",
    title="GridSearchCV",
)
ax_grid.legend()

halving_results = pd.DataFrame(halving.cv_results_)
for learning_rate, rows in halving_results.groupby("param_learning_rate"):
    ax_halving.plot(
        rows["n_resources"], rows["mean_test_score"], marker="o",
        label=f"learning_rate={learning_rate}",
    )
ax_halving.set(
    xticks=halving.n_resources_, xlabel="number of blocks (resource)",
    title="HalvingGridSearchCV",
)
ax_halving.legend()
plt.show()
