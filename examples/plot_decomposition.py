"""
=====================================================
Two decompositions of a residual network's prediction
=====================================================

The score of a boosted residual network is a sum in two ways.

* The **hypothesis ensemble** (the boosting view): the prior ``z_0``, then the
  weak hypothesis of each round, ``h_t = z_{t+1} - z_t``, the change in the
  scores the round's block and head brought.
* The **feature ensemble** (the ResNet view): with the final head
  ``(W_T, b_T)``, the stem's share ``b_T + W_T g_0(x)``, then each block's
  share ``nu W_T f_t(g_t(x))`` of the final representation.

Both add up exactly to the decision function. This example draws them as
waterfalls for a few test samples: green bars push the score up, red bars
down, and the grey bar is the total.
"""

# %%
# A boosted residual network on a binary task
# -------------------------------------------
import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from sklearn_resboost import BoostResNetClassifier
from sklearn_resboost.inspection import DecompositionDisplay

# The test suite sets SKLEARN_RESBOOST_FAST_EXAMPLES=1 to run a smaller version
# of this example; the gallery shows the full one.
FAST = os.environ.get("SKLEARN_RESBOOST_FAST_EXAMPLES") == "1"

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
clf = BoostResNetClassifier(
    n_estimators=3 if FAST else 10,
    width=32,
    hidden_size=32,
    epochs_per_block=5,
    device="cpu",
    random_state=0,
).fit(X_train, y_train)
print(f"test accuracy: {clf.score(X_test, y_test):.3f}")

# %%
# The sums are exact
# ------------------
scores = clf.decision_function(X_test)
for kind in ("hypothesis", "feature"):
    parts = getattr(clf, f"{kind}_ensemble")(X_test)
    print(f"{kind} ensemble sums to the scores: {np.allclose(parts.sum(axis=0), scores)}")

# %%
# Waterfalls of three samples
# ---------------------------
# Top: the boosting view. The prior starts from the class frequencies; the
# early rounds move the score most and the last ones little. Bottom: the
# ResNet view of the same scores. The stem's share, which the final head reads
# through every skip connection, is among the largest bars; the blocks add
# their corrections to it.
samples = [0, 1, 2]
fig, axes = plt.subplots(2, 3, figsize=(12, 7), layout="constrained")
for row, kind in zip(axes, ("hypothesis", "feature")):
    DecompositionDisplay.from_estimator(clf, X_test, kind=kind, sample_index=samples, ax=row)
fig.suptitle("Per-stage contributions to the decision function (> 0 favours class 1, benign)")
