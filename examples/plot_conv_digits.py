"""
=========================================
Boosting a convolutional ResNet on digits
=========================================

BoostResNet's headline experiments boost convolutional residual networks on
images. Each row of the digits data is an 8x8 image flattened into 64
features; ``block="conv"`` with ``image_shape=(8, 8)`` reads it as an image:
the stem is a 3x3 convolution, every block a pre-activation basic block
(two 3x3 convolutions) and every head a linear map of the representation.
The rest of the scikit-learn API is unchanged: the rows stay rows.

This example boosts such a network, draws its staged learning curve on the
test set, and deletes its blocks one at a time (a lesion study); then it
boosts a network with downsampling stages and deletes its downsampling
blocks too.
"""

# %%
# Data and the boosted convolutional network
# ------------------------------------------
import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_resboost import BoostResNetClassifier
from sklearn_resboost.inspection import LesionDisplay, StagedScoresDisplay

# The test suite sets SKLEARN_RESBOOST_FAST_EXAMPLES=1 to run a smaller version
# of this example; the gallery shows the full one.
FAST = os.environ.get("SKLEARN_RESBOOST_FAST_EXAMPLES") == "1"

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)

clf = BoostResNetClassifier(
    block="conv",
    image_shape=(8, 8),
    width=8 if FAST else 32,
    hidden_size=8 if FAST else 32,
    lr=3e-3,
    n_estimators=2 if FAST else 10,
    epochs_per_block=2 if FAST else 10,
    device="cpu",
    random_state=0,
).fit(X_train, y_train)
print(f"{clf.n_estimators_} blocks, test accuracy {clf.score(X_test, y_test):.3f}")

# %%
# Staged learning curve
# ---------------------
# The head of stage ``t`` scores the network truncated after ``t`` blocks; the
# staged methods run the network once for all stages.
_, ax = plt.subplots(figsize=(6, 4), layout="constrained")
StagedScoresDisplay.from_estimator(clf, X_test, y_test, ax=ax, name="boosted conv ResNet")

# %%
# Lesion study
# ------------
# Deleting a block (``g_{k+1} = g_k``) costs the boosted network little: as
# Veit et al. found for residual networks, it behaves like an ensemble of
# shallower paths.
display = LesionDisplay.from_estimator(
    clf, X_test, y_test, n_repeats=2 if FAST else 10, random_state=0
)
display.figure_.set_size_inches(11, 4)

# %%
# Downsampling stages
# -------------------
# ``strides=(1, 2, 1, 2)`` makes blocks 1 and 3 downsample: each halves the
# height and width and doubles the channels, 8x8 -> 4x4 -> 2x2, and its skip
# connection is 2x2 average pooling with zero channels, which has no
# parameters. The heads average the pixels of their stage. Early stopping is
# off so that every stage is boosted. Deleting a downsampling block removes
# its residual branch and keeps its shortcut, as Veit et al. did.
down = BoostResNetClassifier(
    block="conv",
    image_shape=(8, 8),
    strides=(1, 2, 1, 2),
    head_pooling="average",
    width=8 if FAST else 32,
    hidden_size=8 if FAST else 32,
    lr=3e-3,
    n_estimators=2 if FAST else 4,
    epochs_per_block=2 if FAST else 10,
    early_stopping=False,
    device="cpu",
    random_state=0,
).fit(X_train, y_train)
print(
    f"strides {[block.stride for block in down.module_.blocks]}, "
    f"test accuracy {down.score(X_test, y_test):.3f}"
)
display = LesionDisplay.from_estimator(
    down, X_test, y_test, n_repeats=2 if FAST else 10, random_state=0
)
display.figure_.set_size_inches(11, 4)
plt.show()
