"""
==========================================
Lesion study: deleting blocks at test time
==========================================

Veit, Wilber and Belongie (NeurIPS 2016) showed that a residual network
behaves like an ensemble of many paths: deleting one of its blocks after
training barely changes its accuracy, and deleting more degrades it smoothly,
while a plain network without skip connections collapses when any layer is
removed.

This example repeats the experiment on the digits data with three networks of
the same architecture (a stem, 12 MLP blocks and a linear head):

* a :class:`~sklearn_resboost.BoostResNetClassifier`, trained one block per
  boosting round;
* the same residual network trained end to end;
* the plain network: the same layers without skip connections, trained end to
  end.

The two end-to-end networks are written out below in a few lines of torch,
so that exactly what is compared stays visible.
"""

# %%
# Data and the boosted residual network
# -------------------------------------
import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import validate_data

from sklearn_resboost import BoostResNetClassifier, MLPBlock, ResNet, Stem
from sklearn_resboost.inspection import LesionDisplay, ReorderDisplay

# The test suite sets SKLEARN_RESBOOST_FAST_EXAMPLES=1 to run a smaller version
# of this example; the gallery shows the full one.
FAST = os.environ.get("SKLEARN_RESBOOST_FAST_EXAMPLES") == "1"

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

N_BLOCKS, WIDTH, HIDDEN = (4 if FAST else 12), 64, 64
boosted = BoostResNetClassifier(
    n_estimators=N_BLOCKS,
    width=WIDTH,
    hidden_size=HIDDEN,
    epochs_per_block=4,
    device="cpu",
    random_state=0,
).fit(X_train, y_train)


# %%
# The end-to-end networks
# -----------------------
# The inspection tools need ``module_`` (a :class:`~sklearn_resboost.ResNet`),
# ``n_features_in_``, ``device_``, ``classes_`` and the usual prediction
# methods. With ``skip=False`` the ``ResNet`` computes
# ``g_{t+1} = f_t(g_t)``: a plain network.
class EndToEndNetwork(ClassifierMixin, BaseEstimator):
    def __init__(self, skip=True, epochs=40, random_state=0):
        self.skip = skip
        self.epochs = epochs
        self.random_state = random_state

    def fit(self, X, y):
        X, y = validate_data(self, X, y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        self.device_ = torch.device("cpu")
        with torch.random.fork_rng():
            torch.manual_seed(self.random_state)
            stem = Stem(X.shape[1], WIDTH)
            stem.set_normalisation(X.mean(axis=0), np.where(X.std(axis=0) > 0, X.std(axis=0), 1))
            module = ResNet(stem, len(self.classes_), skip=self.skip)
            for _ in range(N_BLOCKS):
                module.blocks.append(MLPBlock(WIDTH, HIDDEN))
            # One head per stage, as in the boosted network; only the last is trained.
            for _ in range(N_BLOCKS + 1):
                module.heads.append(torch.nn.Linear(WIDTH, len(self.classes_)))
            inputs = torch.as_tensor(X, dtype=torch.float32)
            targets = torch.as_tensor(codes)
            optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3)
            for _ in range(self.epochs):
                for batch in torch.randperm(len(X)).split(64):
                    optimizer.zero_grad()
                    loss = torch.nn.functional.cross_entropy(module(inputs[batch]), targets[batch])
                    loss.backward()
                    optimizer.step()
        self.module_ = module.eval()
        return self

    def decision_function(self, X):
        X = validate_data(self, X, reset=False)
        with torch.no_grad():
            return self.module_(torch.as_tensor(X, dtype=torch.float32)).double().numpy()

    def predict(self, X):
        return self.classes_[self.decision_function(X).argmax(axis=1)]


epochs = 10 if FAST else 40
residual = EndToEndNetwork(skip=True, epochs=epochs).fit(X_train, y_train)
plain = EndToEndNetwork(skip=False, epochs=epochs).fit(X_train, y_train)
networks = {"boosted ResNet": boosted, "end-to-end ResNet": residual, "plain network": plain}
for name, network in networks.items():
    print(f"{name}: test accuracy {network.score(X_test, y_test):.3f}")

# %%
# Deleting blocks
# ---------------
# Left: the test accuracy with each single block deleted
# (``g_{k+1} = g_k``), dashed at the intact network's accuracy. Right: the
# mean accuracy with ``k`` random blocks deleted (10 random sets per ``k``).
# The residual networks lose little from any one block and degrade smoothly;
# the plain network falls to chance as soon as one layer is missing.
display = None
for name, network in networks.items():
    display = LesionDisplay.from_estimator(
        network,
        X_test,
        y_test,
        n_repeats=10,
        random_state=0,
        name=name,
        ax=None if display is None else display.axes_,
    )
display.figure_.set_size_inches(11, 4)
display.figure_.suptitle("Lesion study on the digits test set")

# %%
# Reordering blocks
# -----------------
# Swapping random pairs of blocks moves the order away from the original
# (Kendall tau 1). The residual networks again degrade gradually.
_, ax = plt.subplots(figsize=(6, 4), layout="constrained")
for name, network in networks.items():
    ReorderDisplay.from_estimator(
        network, X_test, y_test, n_swaps=range(0, 7), n_repeats=5, random_state=0, name=name, ax=ax
    )
