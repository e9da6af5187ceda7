"""
=========================================
Paths of a residual network and gradients
=========================================

Unraveled, a residual network with ``T`` blocks is a sum over ``2^T`` paths:
each block is crossed either through its residual branch or through its skip.
``C(T, k)`` paths go through exactly ``k`` branches, so most paths have about
``T / 2`` blocks. Veit, Wilber and Belongie (NeurIPS 2016) measured how much
gradient a path of each length carries and found that almost all of it comes
from short paths: the network is an ensemble of relatively shallow networks.

This example runs their measurement on a boosted residual network.
"""

# %%
# How many paths of each length
# -----------------------------
# The path lengths follow a Binomial(T, 1/2) law. In Veit's 54-block CIFAR-10
# network, the paths 5 to 17 blocks long, which carry most of the gradient,
# are 0.45% of all paths.
import os

import matplotlib

matplotlib.use("Agg")

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_resboost import BoostResNetClassifier
from sklearn_resboost.inspection import (
    PathLengthDisplay,
    gradient_by_path_length,
    path_length_distribution,
)

# The test suite sets SKLEARN_RESBOOST_FAST_EXAMPLES=1 to run a smaller version
# of this example; the gallery shows the full one.
FAST = os.environ.get("SKLEARN_RESBOOST_FAST_EXAMPLES") == "1"

veit = path_length_distribution(54)
print(f"54 blocks: {veit.n_paths:.3e} paths")
print(f"share of paths 5 to 17 blocks long: {veit.path_fraction[5:18].sum():.2%}")

# %%
# A boosted residual network
# --------------------------
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
clf = BoostResNetClassifier(
    n_estimators=6 if FAST else 20,
    width=64,
    hidden_size=64,
    epochs_per_block=3,
    device="cpu",
    random_state=0,
).fit(X_train, y_train)
print(f"test accuracy: {clf.score(X_test, y_test):.3f}")

# %%
# Gradient per path length
# ------------------------
# For each length ``k``, 20 random sets of ``k`` blocks let the gradient of
# the loss through their residual branch only, all other blocks through their
# skip only: the gradient at ``g_0`` then follows one path of length ``k``.
# Left: the share of paths of each length. Middle: the gradient norm of one
# path, which falls geometrically with its length. Right: count times norm,
# the share of the total gradient each length carries; the shaded range holds
# 90% of it.
result = gradient_by_path_length(clf, X_test, y_test, n_samples=20, random_state=0)
lo, hi = result.effective_range
print(
    f"90% of the gradient flows through paths {lo} to {hi} blocks long, "
    f"{result.effective_path_fraction:.1%} of the {2**clf.n_estimators_} paths"
)
display = PathLengthDisplay(
    path_lengths=result.path_lengths,
    path_fraction=result.path_fraction,
    gradient_norms=result.gradient_norms,
    effective_contribution=result.effective_contribution,
    effective_range=result.effective_range,
).plot()
display.figure_.suptitle(f"Unraveled view of a {clf.n_estimators_}-block boosted ResNet")
