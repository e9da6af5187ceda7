"""Convolutional residual networks on ``digits``: boosted against end to end.

The digits data (1,797 images of 8x8 pixels) with ``image_shape=(8, 8)``,
split 75/25, stratified, under each seed (``random_state=seed`` for the
split and the estimator). Models:

* ``boost-conv``: :class:`BoostResNetClassifier` with ``block="conv"`` and
  the conv configuration of :data:`CONV` (``n_estimators=CONV_DEPTH``);
* ``boost-conv-down``: the same with the downsampling stages of
  :data:`DOWN` (average-pooling heads, ``strides=(1, 2, 1, 2)``,
  ``n_estimators=DOWN_DEPTH``), and ``boost-conv-down-ft`` with
  ``fine_tune_epochs=FINE_TUNE_EPOCHS`` after boosting (BoostResNet +
  e2eBP);
* ``boost-mlp``: :class:`BoostResNetClassifier` with its defaults;
* ``e2e-conv`` and ``e2e-conv-down``: :class:`ResNetClassifier` with the
  same conv blocks (``n_blocks=CONV_DEPTH``, ``DOWN_DEPTH``), trained end
  to end.

It prints each model's test accuracy per seed, its mean and the mean fit
time (CPU, ``n_threads=None``); then test accuracy against depth, mean over
the seeds: for boosting from the staged scores of one ``boost-conv`` fit
per seed with ``early_stopping=False`` (every round is kept, so that the
curve reaches ``CONV_DEPTH``), for end-to-end training from one fit per
depth in ``--depths``.

Usage::

    python benchmarks/conv.py [--seeds 0 1 2] [--depths 1 2 4 8]
                              [--models boost-conv boost-conv-down
                                        boost-conv-down-ft boost-mlp
                                        e2e-conv e2e-conv-down]
                              [--no-boost-depth]

The end-to-end flattening conv ResNet is measured in the depth curve
(``e2e-conv`` at each of ``--depths``).

On a CUDA machine, ``--throughput`` measures instead a larger run: synthetic
CIFAR-sized images (3x32x32, ``--rows`` of them, their class the brightest
quadrant), a network of ``--width`` channels with the stages of
:data:`DOWN` and average-pooling heads; it prints the boosted network's
seconds per round (one epoch a round, rounds after the first) and the
end-to-end network's seconds per epoch, with their training images per
second::

    python benchmarks/conv.py --throughput [--rows 100000] [--width 64]
                              [--device cuda]
"""

import argparse
import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_resboost import BoostResNetClassifier, ResNetClassifier

# The conv configuration: 32 channels, a faster step than the MLP default.
CONV = dict(block="conv", image_shape=(8, 8), width=32, hidden_size=32, lr=3e-3)
# Downsampling stages: 8x8 -> 4x4 -> 2x2, read by average-pooling heads.
DOWN = dict(CONV, head_pooling="average", strides=(1, 2, 1, 2))
CONV_DEPTH = 10
DOWN_DEPTH = 4
FINE_TUNE_EPOCHS = 20


def make_model(name, seed, depth=None, **extra):
    common = dict(device="cpu", random_state=seed, **extra)
    if name == "boost-conv":
        return BoostResNetClassifier(n_estimators=depth or CONV_DEPTH, **CONV, **common)
    if name in ("boost-conv-down", "boost-conv-down-ft"):
        if name == "boost-conv-down-ft":
            common["fine_tune_epochs"] = FINE_TUNE_EPOCHS
        return BoostResNetClassifier(n_estimators=depth or DOWN_DEPTH, **DOWN, **common)
    if name == "boost-mlp":
        return BoostResNetClassifier(**common)
    if name == "e2e-conv":
        return ResNetClassifier(n_blocks=depth or CONV_DEPTH, **CONV, **common)
    if name == "e2e-conv-down":
        return ResNetClassifier(n_blocks=depth or DOWN_DEPTH, **DOWN, **common)
    raise ValueError(f"unknown model {name!r}")


def quadrant_images(rows, seed=0):
    """``rows`` noisy 3x32x32 images, flattened; the class is the brightest quadrant."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 3, 32, 32)).astype(np.float32)
    y = rng.integers(4, size=rows)
    for k in range(4):
        rows_k = y == k
        X[rows_k, :, 16 * (k // 2) : 16 * (k // 2) + 16, 16 * (k % 2) : 16 * (k % 2) + 16] += 0.5
    return X.reshape(rows, -1), y


def throughput(rows, width, device):
    """Seconds per boosting round and per end-to-end epoch, and images per second."""
    X, y = quadrant_images(rows)
    config = dict(DOWN, image_shape=(3, 32, 32), width=width, hidden_size=width)
    common = dict(early_stopping=False, device=device, random_state=0, **config)
    stamps = []

    def monitor(i, estimator, local_vars):
        if device == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())
        return False

    boosted = BoostResNetClassifier(n_estimators=DOWN_DEPTH, epochs_per_block=1, **common)
    boosted.fit(X, y, monitor=monitor)
    # Rounds after the first, which also trains the stem; the first one is
    # kept at every fit, the others only when they lower the training loss.
    round_s = float(np.median(np.diff(stamps)))
    e2e = ResNetClassifier(n_blocks=DOWN_DEPTH, max_epochs=3, **common).fit(X, y)
    epoch_s = float(np.median([record["dur"] for record in e2e.history_[1:]]))
    print(f"{rows} images 3x32x32, width {width}, strides {DOWN['strides']}, on {device}")
    print(f"  boosted: {round_s:.2f} s a round, {rows / round_s:,.0f} images/s")
    print(f"  end to end ({DOWN_DEPTH} blocks): {epoch_s:.2f} s an epoch, {rows / epoch_s:,.0f} images/s")
    print(f"  train accuracy: boosted {boosted.score(X, y):.4f}, end to end {e2e.score(X, y):.4f}")


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
        "--models",
        nargs="+",
        default=[
            "boost-conv", "boost-conv-down", "boost-conv-down-ft", "boost-mlp", "e2e-conv-down"
        ],
    )
    parser.add_argument(
        "--no-boost-depth", action="store_true", help="skip the boosting depth curve"
    )
    parser.add_argument("--throughput", action="store_true", help="the larger run only")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    if args.throughput:
        throughput(args.rows, args.width, args.device)
        return

    print(f"{'model':<15} " + " ".join(f"seed {s:<3}" for s in args.seeds) + "   mean  fit (s)")
    for name in args.models:
        scores, times, blocks = [], [], []
        for seed in args.seeds:
            X_train, X_test, y_train, y_test = split(seed)
            model = make_model(name, seed)
            times.append(fit(model, X_train, y_train))
            scores.append(model.score(X_test, y_test))
            blocks.append(model.module_.n_blocks)
        row = " ".join(f"{s:8.4f}" for s in scores)
        kept = "/".join(str(b) for b in blocks)
        print(
            f"{name:<15} {row} {np.mean(scores):6.4f} {np.mean(times):8.1f}  blocks {kept}",
            flush=True,
        )

    if not args.no_boost_depth:
        print("\nboost-conv, early_stopping=False: staged test accuracy against depth")
        staged = []
        for seed in args.seeds:
            X_train, X_test, y_train, y_test = split(seed)
            model = make_model("boost-conv", seed, early_stopping=False)
            model.fit(X_train, y_train)
            # A round that does not lower the training loss is still discarded.
            scores = list(model.staged_score(X_test, y_test))
            staged.append(scores + [scores[-1]] * (CONV_DEPTH - len(scores)))
            print(f"  seed {seed}: " + " ".join(f"{a:.4f}" for a in scores), flush=True)
        means = np.mean(staged, axis=0)
        print("  mean:   " + " ".join(f"{t + 1}:{a:.4f}" for t, a in enumerate(means)))
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
