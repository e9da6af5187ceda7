"""
=======================================
Quick start: a boosted residual network
=======================================

Fit a :class:`~sklearn_resboost.BoostResNetClassifier` on the digits data,
then read what boosting recorded: the test accuracy after every block (the
staged predictions), the training loss of every stage, and the edges of
BoostResNet's theory (Huang et al., ICML 2018).
"""

# %%
# Fit
# ---
# The features are pixel intensities from 0 to 16; they need no scaling, as
# the network's stem standardises every feature with statistics learned in
# ``fit``. Each of the 15 boosting rounds adds one residual block and a linear
# head on top of the frozen earlier blocks, and trains them for at most 3
# epochs. The network is smaller than the default one (``width=128``,
# ``hidden_size=256``), which is plenty for 8x8 images.
import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_resboost import BoostResNetClassifier

# The test suite sets SKLEARN_RESBOOST_FAST_EXAMPLES=1 to run a smaller version
# of this example; the gallery shows the full one.
FAST = os.environ.get("SKLEARN_RESBOOST_FAST_EXAMPLES") == "1"

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

clf = BoostResNetClassifier(
    n_estimators=4 if FAST else 15,
    width=64,
    hidden_size=64,
    epochs_per_block=3,
    device="cpu",
    random_state=0,
)
clf.fit(X_train, y_train)
print(f"{clf.n_estimators_} blocks, test accuracy {clf.score(X_test, y_test):.3f}")

# %%
# Predict
# -------
# ``predict_proba`` follows the exponential loss of the paper: the
# probabilities are the softmax of twice the raw scores of the final stage.
proba = clf.predict_proba(X_test[:3])
print(np.round(proba, 2))
print("predicted:", clf.predict(X_test[:3]), "true:", y_test[:3])

# %%
# One fit, every depth
# --------------------
# The network after ``t`` rounds is the boosted model of depth ``t``, read by
# the head of stage ``t``; the staged methods (``staged_score``,
# ``staged_predict``, ...) evaluate all stages in one pass of the network.
# ``train_score_`` holds the training loss of the prior (stage 0) and after
# every round: it never increases, because a round that raised it would have
# been discarded.
train_accuracy = list(clf.staged_score(X_train, y_train))
test_accuracy = list(clf.staged_score(X_test, y_test))
stages = np.arange(1, clf.n_estimators_ + 1)

# %%
# The edges
# ---------
# After every round the classifier records the paper's edges on the training
# rows: ``hypothesis_edges_``, how well the new stage does under the costs of
# the previous one, and ``block_edges_``, what the round added. The costs
# concentrate on the training samples the ensemble still gets wrong, so once
# it fits the training data closely, the edges turn negative while the
# training loss keeps falling: block edges after the first round already, and
# later the hypothesis edges too. This is why the paper's stopping rule
# ``gamma`` is off by default; the test accuracy is the better guide.
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
axes[0].plot(stages, train_accuracy, "o-", label="train")
axes[0].plot(stages, test_accuracy, "s-", label="test")
axes[0].set(xlabel="blocks", ylabel="accuracy", title="Staged accuracy")
axes[0].legend()
axes[1].plot(np.arange(clf.n_estimators_ + 1), clf.train_score_, "o-", color="C2")
axes[1].set(xlabel="stage", ylabel="exponential loss", title="Training loss", yscale="log")
axes[2].plot(stages, clf.hypothesis_edges_, "o-", color="C3", label="hypothesis edge")
axes[2].plot(stages, clf.block_edges_, "s-", color="C4", label="block edge")
axes[2].axhline(0, color="grey", lw=0.8)
axes[2].set(xlabel="round", title="Edges")
axes[2].legend()
for ax in axes:
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
plt.show()

# %%
# The scores add up
# -----------------
# The prior plus every round's weak hypothesis is exactly the final network's
# output (the paper's telescoping), and so is the stem's share plus every
# block's share of the final head's scores.
scores = clf.decision_function(X_test)
print(np.allclose(clf.hypothesis_ensemble(X_test).sum(axis=0), scores))
print(np.allclose(clf.feature_ensemble(X_test).sum(axis=0), scores))
