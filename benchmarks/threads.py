"""Fit time and predictions against torch's thread count, on idle and on busy cores.

Fits ``BoostResNetClassifier`` on the CPU, each fit (and its prediction)
inside ``limited_threads(n)`` for n = 1, 2, torch's default count (the
number of usable cores) and the package's default (``n_threads=None``),
duplicates merged. Every fit runs twice per round: on the machine as it is
("idle": no load started here) and with ``--busy`` processes spinning
``while True: pass`` ("busy"), which this script starts before and kills after
the busy runs. The variants alternate within a round, their order rotating
from round to round, so that each ratio compares runs taken side by side.
Cases:

* ``classification``: ``make_classification`` 1,000 x 12 (random_state=0),
  ``n_estimators=2``, predictions on the training rows;
* ``digits``: the digits data, the 75/25 stratified split of
  ``python -m sklearn_resboost`` (random_state=0), ``n_estimators=3``,
  predictions on the test rows.

It prints, per case, load and thread count, the median wall time of a fit,
its median CPU time (all of the process's threads: time that threads spend
spinning counts, so a spinning worker shows as CPU time far above the
one-thread fit's), the median of the paired ratios of wall times to the
one-thread fit, and whether the predicted probabilities are identical across
thread counts. A new round starts only while the last round's duration still
fits in ``--budget`` seconds.

Usage::

    python benchmarks/threads.py [--repeats 3] [--budget 540] [--busy N]
                                 [--cases classification digits]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
from sklearn.datasets import load_digits, make_classification
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_info

from sklearn_resboost import BoostResNetClassifier
from sklearn_resboost._threads import limited_threads, resolve_n_threads


def classification_case():
    X, y = make_classification(n_samples=1000, n_features=12, random_state=0)
    return X, y, X, BoostResNetClassifier(n_estimators=2, device="cpu", random_state=0)


def digits_case():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, _ = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    return X_train, y_train, X_test, BoostResNetClassifier(
        n_estimators=3, device="cpu", random_state=0
    )


CASES = {"classification": classification_case, "digits": digits_case}


def timed_fit(case, n_threads):
    """Wall and CPU seconds of one fit at ``n_threads``, and its predicted probabilities."""
    X, y, X_predict, estimator = CASES[case]()
    with limited_threads(n_threads):
        wall, cpu = time.perf_counter(), time.process_time()
        estimator.fit(X, y)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        proba = estimator.predict_proba(X_predict)
    return wall, cpu, proba


def start_busy(n_processes, busy):
    """Append to ``busy`` processes that keep a core each busy; the caller kills them."""
    for _ in range(n_processes):
        busy.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
    time.sleep(0.5)  # let them reach the loop before the timing starts


def stop_busy(busy):
    for process in busy:
        process.kill()
        process.wait()


def run_round(cases, variants, n_busy, shift, records, predictions):
    order = variants[shift % len(variants):] + variants[:shift % len(variants)]
    for case in cases:
        for load in ("idle", "busy"):
            busy = []
            try:
                if load == "busy":
                    start_busy(n_busy, busy)
                for n_threads in order:
                    wall, cpu, proba = timed_fit(case, n_threads)
                    records.setdefault((case, load, n_threads), []).append((wall, cpu))
                    predictions.setdefault(case, []).append((n_threads, proba))
                    print(f"  {case:<14} {load:<4} {n_threads} thread(s): {wall:7.2f} s",
                          flush=True)
            finally:
                stop_busy(busy)


def report(cases, variants, labels, records, predictions):
    print(f"\n{'case':<14} {'load':<4}  {'threads':<22} {'fits':>4} {'wall s':>7} "
          f"{'CPU s':>7} {'x 1 thread':>10}")
    for case in cases:
        for load in ("idle", "busy"):
            one = [wall for wall, _ in records[(case, load, 1)]]
            for n_threads in variants:
                runs = records[(case, load, n_threads)]
                walls = [wall for wall, _ in runs]
                cpu = statistics.median(cpu for _, cpu in runs)
                ratio = statistics.median(w / w1 for w, w1 in zip(walls, one))
                print(f"{case:<14} {load:<4}  {labels[n_threads]:<22} {len(runs):>4} "
                      f"{statistics.median(walls):>7.2f} {cpu:>7.2f} {ratio:>10.2f}")
        reference = next(proba for n, proba in predictions[case] if n == 1)
        diffs, flips = {}, {}
        for n_threads, proba in predictions[case]:
            diff = float(np.abs(proba - reference).max())
            flipped = int((proba.argmax(axis=1) != reference.argmax(axis=1)).sum())
            diffs[n_threads] = max(diffs.get(n_threads, 0.0), diff)
            flips[n_threads] = max(flips.get(n_threads, 0), flipped)
        same = all(diff == 0.0 for diff in diffs.values())
        details = ", ".join(
            f"{n} thread(s): max |proba diff| {diffs[n]:.1e}, {flips[n]} of "
            f"{len(reference)} labels differ" for n in sorted(diffs)
        )
        print(f"{case}: predictions identical across thread counts and loads: "
              f"{'yes' if same else 'no'} (against the first 1-thread fit; {details})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="most rounds")
    parser.add_argument("--budget", type=float, default=540.0,
                        help="seconds after which no new round starts")
    parser.add_argument("--busy", type=int, default=len(os.sched_getaffinity(0)),
                        help="busy processes of the busy runs (default: usable cores)")
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    args = parser.parse_args(argv)

    torch_default = torch.get_num_threads()
    labels = {1: "1", 2: "2", torch_default: f"{torch_default} (torch default)"}
    default = resolve_n_threads(None)
    labels[default] = f"{labels[default]} (n_threads=None)"
    variants = sorted(labels)

    openmp = [f"{info['prefix']} ({info['filepath']})"
              for info in threadpool_info() if info["user_api"] == "openmp"]
    print(f"torch {torch.__version__}, OpenMP runtime: {', '.join(openmp) or 'none'}; "
          f"{len(os.sched_getaffinity(0))} usable cores; "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}; "
          f"{args.busy} busy processes; load average at start "
          f"{os.getloadavg()[0]:.2f}")

    timed_fit(args.cases[0], 1)  # warm-up: the first fit of a process pays one-off costs
    records, predictions = {}, {}
    start = time.perf_counter()
    last = 0.0
    for shift in range(args.repeats):
        if shift and time.perf_counter() - start + last > args.budget:
            break
        print(f"round {shift + 1}", flush=True)
        began = time.perf_counter()
        run_round(args.cases, variants, args.busy, shift, records, predictions)
        last = time.perf_counter() - began
    print(f"load average at end {os.getloadavg()[0]:.2f}; "
          f"{time.perf_counter() - start:.0f} s in all")
    report(args.cases, variants, labels, records, predictions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
