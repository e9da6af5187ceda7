"""Convolutional residual networks on ``digits``: boosted against end to end.

The digits data (1,797 images of 8x8 pixels) with ``image_shape=(8, 8)``,
split 75/25, stratified, under each seed (``random_state=seed`` for the
split and the estimator). Models:

* ``boost-conv``: :class:`BoostResNetClassifier` with ``block="conv"`` and
  the conv configuration of :data:`CONV` (``n_estimators=CONV_DEPTH``);
* ``boost-mlp``: :class:`BoostResNetClassifier` with its defaults;
* ``e2e-conv``: :class:`ResNetClassifier` with the same conv blocks
  (``n_blocks=CONV_DEPTH``), trained end to end.

It prints each model's test accuracy per seed, its mean and the mean fit
time (CPU, ``n_threads=None``); then test accuracy against depth: for
boosting from the staged scores of each ``boost-conv`` fit (its kept
blocks), for end-to-end training from one fit per depth in ``--depths``.

Usage::

    python benchmarks/conv.py [--seeds 0 1 2] [--depths 1 2 4 8]
                              [--models boost-conv boost-mlp e2e-conv]
"""

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_resboost import BoostResNetClassifier, ResNetClassifier

# The conv configuration: 32 channels, a faster step than the MLP default.
CONV = dict(block="conv", image_shape=(8, 8), width=32, hidden_size=32, lr=3e-3)
CONV_DEPTH = 10


def make_model(name, seed, depth=CONV_DEPTH):
    common = dict(device="cpu", random_state=seed)
    if name == "boost-conv":
        return BoostResNetClassifier(n_estimators=depth, **CONV, **common)
    if name == "boost-mlp":
        return BoostResNetClassifier(**common)
    if name == "e2e-conv":
        return ResNetClassifier(n_blocks=depth, **CONV, **common)
    raise ValueError(f"unknown model {name!r}")


def split(seed):
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)


def fit(model, X_train, y_train):
    start = time.perf_counter()
    model.fit(X_train, y_train)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--depths", type=int, nargs="*", default=[1, 2, 4, 8])
    parser.add_argument(
        "--models", nargs="+", default=["boost-conv", "boost-mlp", "e2e-conv"]
    )
    args = parser.parse_args()

    staged = []
    print(f"{'model':<12} " + " ".join(f"seed {s:<3}" for s in args.seeds) + "   mean  fit (s)")
    for name in args.models:
        scores, times = [], []
        for seed in args.seeds:
            X_train, X_test, y_train, y_test = split(seed)
            model = make_model(name, seed)
            times.append(fit(model, X_train, y_train))
            scores.append(model.score(X_test, y_test))
            if name == "boost-conv":
                staged.append(list(model.staged_score(X_test, y_test)))
        row = " ".join(f"{s:8.4f}" for s in scores)
        print(f"{name:<12} {row} {np.mean(scores):6.4f} {np.mean(times):8.1f}", flush=True)

    if staged:
        # Boosting keeps a round only when it lowers the training loss: the
        # seeds may keep different numbers of blocks.
        print("\nboost-conv, test accuracy against depth (staged, kept blocks per seed)")
        for seed, scores in zip(args.seeds, staged):
            print(f"  seed {seed}: " + " ".join(f"{t + 1}:{a:.4f}" for t, a in enumerate(scores)))
    if args.depths:
        print("\ne2e-conv, test accuracy against depth (one fit per depth, mean over seeds)")
        for depth in args.depths:
            scores, times = [], []
            for seed in args.seeds:
                X_train, X_test, y_train, y_test = split(seed)
                model = make_model("e2e-conv", seed, depth)
                times.append(fit(model, X_train, y_train))
                scores.append(model.score(X_test, y_test))
            print(f"  {depth}: {np.mean(scores):.4f} (fit {np.mean(times):.1f} s)", flush=True)


if __name__ == "__main__":
    main()
