"""Throughput on a CUDA machine: BoostResNet vs the end-to-end ResNet vs HistGradientBoosting.

On 1,000,000 x 100 synthetic rows (``make_classification``) at the default
width, it measures side by side, in one process:

* BoostResNet: seconds per round (one epoch per round, rounds after the
  first, which also trains the stem) and training samples per second, in
  float32 and with ``mixed_precision=True``, for several batch sizes;
* the end-to-end ResNet (20 blocks): seconds per epoch and samples per second;
* HistGradientBoosting on the host's cores: seconds per iteration and
  samples per second (rows times iterations over the fit time);
* peak GPU memory (``torch.cuda.max_memory_allocated``) of a 64-block fit
  over a 4-block fit, for both networks.

Usage::

    python benchmarks/gpu.py [--rows 1000000] [--output results.md]
"""

import argparse
import os
import time

import numpy as np
import torch
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier

from sklearn_resboost import BoostResNetClassifier, ResNetClassifier, _trainer


def boost_round_seconds(X, y, batch_size, mixed_precision, n_rounds=4):
    """Median seconds of rounds 1, ..., n_rounds - 1 at one epoch per round, and the model."""
    stamps = []

    def monitor(i, estimator, local_vars):
        torch.cuda.synchronize()
        stamps.append(time.perf_counter())
        return False

    patience = _trainer.ROUND_PATIENCE
    _trainer.ROUND_PATIENCE = 10**9
    try:
        clf = BoostResNetClassifier(
            n_estimators=n_rounds, epochs_per_block=1, batch_size=batch_size,
            early_stopping=False, mixed_precision=mixed_precision, device="cuda",
            random_state=0,
        ).fit(X, y, monitor=monitor)
    finally:
        _trainer.ROUND_PATIENCE = patience
    return float(np.median(np.diff(stamps))), clf


def resnet_epoch_seconds(X, y, batch_size, mixed_precision, n_epochs=2):
    """Median seconds of the epochs after the first of an end-to-end fit."""
    clf = ResNetClassifier(
        max_epochs=n_epochs, batch_size=batch_size, early_stopping=False,
        mixed_precision=mixed_precision, device="cuda", random_state=0,
    ).fit(X, y)
    return float(np.median([record["dur"] for record in clf.history_[1:]])), clf


def peak_gpu_memory(make, X, y):
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    make().fit(X, y)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--resnet-batches", type=int, nargs="*", default=[128, 1024, 4096],
                        help="batch sizes of the end-to-end ResNet (128 is its default)")
    parser.add_argument("--output", default=None, help="also write the table (Markdown) here")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("benchmarks/gpu.py needs a CUDA device.")
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"{os.cpu_count()} CPU cores", flush=True)
    X, y = make_classification(
        n_samples=args.rows, n_features=100, n_informative=30, random_state=0
    )
    X = X.astype(np.float32)
    # A tenth of the rows is held out, to show what each setting costs in accuracy.
    n_test = len(X) // 10
    X, X_test, y, y_test = X[n_test:], X[:n_test], y[n_test:], y[:n_test]
    n = len(X)
    rows = []

    def report(model, setting, seconds, unit, estimator):
        accuracy = estimator.score(X_test, y_test)
        rows.append((model, setting, seconds, unit, n / seconds, accuracy))
        print(f"{model:<22} {setting:<32} {seconds:8.3f} s/{unit}  "
              f"{n / seconds:14,.0f} samples/s  accuracy {accuracy:.4f}", flush=True)

    for batch_size in (256, 1024, 4096):
        for mixed in (False, True):
            seconds, clf = boost_round_seconds(X, y, batch_size, mixed)
            setting = f"batch {batch_size}, {'bf16' if mixed else 'fp32'}"
            report("BoostResNet (4 rounds)", setting, seconds, "round", clf)
    # Only float32 at the default batch of 128, which is slow on a GPU.
    settings = [(b, m) for b in args.resnet_batches for m in (False, True) if b > 128 or not m]
    for batch_size, mixed in settings:
        seconds, clf = resnet_epoch_seconds(X, y, batch_size, mixed)
        setting = f"20 blocks, batch {batch_size}, {'bf16' if mixed else 'fp32'}"
        report("ResNet (2 epochs)", setting, seconds, "epoch", clf)
    start = time.perf_counter()
    hgb = HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=0)
    hgb.fit(X, y)
    seconds = (time.perf_counter() - start) / hgb.n_iter_
    report("HistGradientBoosting", f"host, {os.cpu_count()} cores", seconds, "iteration", hgb)

    memory_rows = min(n, 300_000)
    Xm, ym = X[:memory_rows], y[:memory_rows]
    memory = {}
    for blocks in (4, 64):
        memory["BoostResNet", blocks] = peak_gpu_memory(
            lambda blocks=blocks: BoostResNetClassifier(
                n_estimators=blocks, epochs_per_block=1, batch_size=4096,
                early_stopping=False, device="cuda", random_state=0,
            ), Xm, ym,
        )
        memory["ResNet (end to end)", blocks] = peak_gpu_memory(
            lambda blocks=blocks: ResNetClassifier(
                n_blocks=blocks, max_epochs=1, batch_size=4096, early_stopping=False,
                device="cuda", random_state=0,
            ), Xm, ym,
        )
    lines = [
        f"Training rows: {n:,} x 100 features ({n_test:,} held out), width 128, hidden size 256; "
        f"{torch.cuda.get_device_name()}, torch {torch.__version__}.",
        "",
        "| model | setting | seconds | per | samples/s | held-out accuracy |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {m} | {s} | {sec:.3f} | {u} | {rate:,.0f} | {acc:.4f} |"
        for m, s, sec, u, rate, acc in rows
    ]
    lines += ["", f"Peak GPU memory, {memory_rows:,} rows, batch 4096, one epoch per block:", "",
              "| model | 4 blocks (MiB) | 64 blocks (MiB) | ratio 64 / 4 |", "|---|---|---|---|"]
    for model in ("BoostResNet", "ResNet (end to end)"):
        small, large = memory[model, 4], memory[model, 64]
        lines.append(f"| {model} | {small / 2**20:.0f} | {large / 2**20:.0f} | {large / small:.2f} |")
    text = "\n".join(lines)
    print(text, flush=True)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
