"""
==========================================
Multi-output regression with staged scores
==========================================

:class:`~sklearn_resboost.BoostResNetRegressor` predicts several targets with
one network: the residual blocks are shared, and every stage's head has one
output per target. Targets are standardised per output inside ``fit``, so
targets of very different scales weigh equally in the loss, and predictions
come back in the units of ``y``.

This example fits three nonlinear targets of very different scales and
follows the test :math:`R^2` of each one, block after block, from the staged
predictions of a single fit.
"""

# %%
# Three targets on very different scales
# --------------------------------------
# Ten uniform features, of which the targets use five: a Friedman-style
# target in the tens, a second one in the hundreds, and a third one in the
# hundredths, each with a little noise.
import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

from sklearn_resboost import BoostResNetRegressor

# The test suite sets SKLEARN_RESBOOST_FAST_EXAMPLES=1 to run a smaller version
# of this example; the gallery shows the full one.
FAST = os.environ.get("SKLEARN_RESBOOST_FAST_EXAMPLES") == "1"

rng = np.random.RandomState(0)
X = rng.uniform(size=(2000, 10))
Y = np.column_stack(
    [
        10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 20 * (X[:, 2] - 0.5) ** 2 + 10 * X[:, 3],
        300 * X[:, 0] * X[:, 4] - 200 * X[:, 1] ** 2,
        0.01 * (np.sin(2 * np.pi * X[:, 3]) + 4 * X[:, 2] * X[:, 4]),
    ]
)
Y += rng.normal(scale=0.05 * Y.std(axis=0), size=Y.shape)
print("target standard deviations:", np.round(Y.std(axis=0), 3))
X_train, X_test, Y_train, Y_test = train_test_split(X, Y, random_state=0)

# %%
# One network for the three targets
# ---------------------------------
reg = BoostResNetRegressor(
    n_estimators=5 if FAST else 20,
    width=64,
    hidden_size=64,
    epochs_per_block=3,
    lr=1e-2,
    device="cpu",
    random_state=0,
).fit(X_train, Y_train)
print(f"{reg.n_estimators_} blocks, {reg.n_outputs_} outputs")
with np.printoptions(suppress=True, precision=3):
    print("predictions:", reg.predict(X_test[:2]))
r2 = r2_score(Y_test, reg.predict(X_test), multioutput="raw_values")
print("test R^2 per target:", r2.round(3))

# %%
# Staged R² per target
# --------------------
# ``staged_predict`` yields the predictions of every stage in one pass of the
# network; scoring each of them per output shows how each target improves
# with depth. The second target, a product of two features minus a square, is
# fitted almost entirely by the first block; the third, with its sine, gains
# the most from the later blocks. ``train_score_`` is the training loss in standardised units:
# the mean over the three outputs of the squared error of the standardised
# targets, so the prior's loss (stage 0) is 1.
staged = np.array(
    [r2_score(Y_test, Y_pred, multioutput="raw_values") for Y_pred in reg.staged_predict(X_test)]
)
stages = np.arange(1, reg.n_estimators_ + 1)
names = ["target 0 (tens)", "target 1 (hundreds)", "target 2 (hundredths)"]

fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
for k, name in enumerate(names):
    axes[0].plot(stages, staged[:, k], "o-", ms=4, label=name)
axes[0].set(xlabel="blocks", ylabel="test $R^2$", title="Staged test $R^2$ per target")
axes[0].legend()
axes[1].plot(np.arange(reg.n_estimators_ + 1), reg.train_score_, "o-", ms=4, color="C3")
axes[1].set(
    xlabel="stage",
    ylabel="squared error (standardised targets)",
    title="Training loss",
    yscale="log",
)
for ax in axes:
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
plt.show()
print(f"training loss of the prior: {reg.train_score_[0]:.6f}")

# %%
# The decompositions, per output
# ------------------------------
# With several outputs the two decompositions have one more axis: shape
# ``(n_stages, n_samples, n_outputs)``, in the units of each target. Their
# sum over the stages is the prediction.
parts = reg.hypothesis_ensemble(X_test[:5])
print(parts.shape, np.allclose(parts.sum(axis=0), reg.predict(X_test[:5])))
