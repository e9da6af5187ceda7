"""Batch-inference speed of an exported model on onnxruntime against ``predict_proba``.

Fits a default-sized ``BoostResNetClassifier`` (20 blocks of width 128,
hidden size 256; ``n_threads=None``, one torch thread) on the 75/25
stratified digits split of ``python -m sklearn_resboost`` (``--seed``),
exports it with ``to_onnx`` and runs the export in an onnxruntime session
of one thread (``intra_op_num_threads=1``, ``inter_op_num_threads=1``), so
that both sides compute on one core. At each batch size the rows come from
the test split, drawn with replacement under ``--seed`` for the batches
larger than it. Each round times ``predict_proba`` and ``session.run`` side
by side, in alternating order, for about ``--seconds`` each (at least 3
calls); the script prints whether the two sides agree on the test split
(labels, largest difference of the probabilities) and, per batch size, the
median over ``--repeats`` rounds of the rows per second of each and of
their paired ratio.

Usage::

    python benchmarks/onnx_latency.py [--repeats 5] [--seconds 1.0] [--seed 0]
                                      [--batches 1 10000]
"""

import argparse
import statistics
import time

import numpy as np
import onnxruntime
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_resboost import BoostResNetClassifier


def rate(run, batch, seconds):
    """Rows per second of ``run()`` on ``batch`` rows, over about ``seconds``."""
    calls, start = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - start < seconds:
        run()
        calls += 1
    return calls * batch / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 10_000])
    args = parser.parse_args()

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, _ = train_test_split(
        X, y, test_size=0.25, random_state=args.seed, stratify=y
    )
    X_test = X_test.astype(np.float32)
    clf = BoostResNetClassifier(device="cpu", n_threads=None, random_state=args.seed)
    start = time.perf_counter()
    clf.fit(X_train.astype(np.float32), y_train)
    print(
        f"fitted {clf.n_estimators_} blocks (width {clf.width}, hidden size "
        f"{clf.hidden_size}) in {time.perf_counter() - start:.1f} s"
    )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        clf.to_onnx().SerializeToString(), options, providers=["CPUExecutionProvider"]
    )

    label, proba = session.run(None, {"X": X_test})
    print(
        f"test split: labels equal {bool((label == clf.predict(X_test)).all())}, largest "
        f"probability difference {np.abs(proba - clf.predict_proba(X_test)).max():.1e}"
    )
    rng = np.random.default_rng(args.seed)
    print(f"{'batch':>7} {'predict_proba':>15} {'onnxruntime':>13} {'ratio':>7}")
    for batch in args.batches:
        if batch <= len(X_test):
            rows = X_test[:batch]
        else:
            rows = X_test[rng.integers(len(X_test), size=batch)]
        sides = {
            "torch": lambda rows=rows: clf.predict_proba(rows),
            "onnx": lambda rows=rows: session.run(None, {"X": rows}),
        }
        rates = {side: [] for side in sides}
        for repeat in range(args.repeats):
            order = list(sides) if repeat % 2 == 0 else list(sides)[::-1]
            for side in order:
                rates[side].append(rate(sides[side], batch, args.seconds))
        ratio = statistics.median(o / t for o, t in zip(rates["onnx"], rates["torch"]))
        print(
            f"{batch:>7,} {statistics.median(rates['torch']):>11,.0f} r/s "
            f"{statistics.median(rates['onnx']):>9,.0f} r/s {ratio:>6.1f}x"
        )


if __name__ == "__main__":
    main()
