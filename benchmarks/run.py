"""Side-by-side benchmark of the boosted ResNets against their peers.

Runs, in one process, the default ``BoostResNetClassifier``/``Regressor``, the
end-to-end ``ResNetClassifier``/``Regressor`` and their peers
(HistGradientBoosting, GradientBoosting, an MLP, and LightGBM, XGBoost,
CatBoost and RealMLP-TD with one thread each, built by ``_peers.py``) on five
datasets (75/25 splits, stratified for classification, seeds 0, 1, 2) and
prints the mean test score (accuracy or R^2), its spread (standard deviation
over seeds), for classifiers the mean test log loss and Brier score, and the
median fit time. Classification labels are coded 0..K-1 for every model
(XGBoost needs them so). Then it measures, as ratios taken side by side:

* round cost: the mean time of the last rounds over the first rounds of one
  fit at a fixed number of epochs per round;
* staged cost: all staged predictions over one ``predict``;
* memory: the peak resident memory of a 64-block fit over a 4-block fit, for
  the boosted network and for the end-to-end baseline, each fit in a fresh
  process.

Usage::

    python benchmarks/run.py                      # everything, writes docs/benchmark_results.rst
    python benchmarks/run.py --datasets digits --seeds 0 --no-costs
    python benchmarks/run.py --models BoostResNet LightGBM "RealMLP-TD" --no-write
"""

import os

# libgomp (torch, LightGBM, XGBoost, HistGradientBoosting) reads this when it
# loads; spinning OpenMP workers made fits 10-15 times slower on shared cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import multiprocessing
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path

import _peers
import numpy as np
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    make_classification,
    make_friedman1,
    make_hastie_10_2,
)
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_resboost import (
    BoostResNetClassifier,
    BoostResNetRegressor,
    ResNetClassifier,
    ResNetRegressor,
    _trainer,
)

DATASETS = {
    "digits": (lambda: load_digits(return_X_y=True), True),
    "breast_cancer": (lambda: load_breast_cancer(return_X_y=True), True),
    "hastie": (lambda: make_hastie_10_2(n_samples=12000, random_state=1), True),
    "diabetes": (lambda: load_diabetes(return_X_y=True), False),
    "friedman1": (lambda: make_friedman1(n_samples=10000, noise=1.0, random_state=0), False),
}

CLASSIFIERS = {
    "BoostResNet": lambda seed: BoostResNetClassifier(random_state=seed),
    "ResNet (end to end)": lambda seed: ResNetClassifier(random_state=seed),
    "HistGradientBoosting": lambda seed: HistGradientBoostingClassifier(random_state=seed),
    "GradientBoosting": lambda seed: GradientBoostingClassifier(random_state=seed),
    "MLP (256, 256)": lambda seed: make_pipeline(
        StandardScaler(),
        MLPClassifier(hidden_layer_sizes=(256, 256), early_stopping=True, max_iter=500, random_state=seed),
    ),
    **{peer: (lambda seed, peer=peer: _peers.classifier(peer, seed)) for peer in _peers.PEERS},
}
REGRESSORS = {
    "BoostResNet": lambda seed: BoostResNetRegressor(random_state=seed),
    "ResNet (end to end)": lambda seed: ResNetRegressor(random_state=seed),
    "HistGradientBoosting": lambda seed: HistGradientBoostingRegressor(random_state=seed),
    "GradientBoosting": lambda seed: GradientBoostingRegressor(random_state=seed),
    "MLP (256, 256)": lambda seed: make_pipeline(
        StandardScaler(),
        MLPRegressor(hidden_layer_sizes=(256, 256), early_stopping=True, max_iter=500, random_state=seed),
    ),
    **{peer: (lambda seed, peer=peer: _peers.regressor(peer, seed)) for peer in _peers.PEERS},
}
MODELS = list(dict.fromkeys([*CLASSIFIERS, *REGRESSORS]))


def fit_and_score(name, model, seed, threads=None):
    """Test score, log loss and Brier score (``None`` for regressors) and fit
    time of one model on one split of one data set."""
    if threads is not None:
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(threads)
        threadpool_limits(threads)
    load, is_classification = DATASETS[name]
    X, y = load()
    if is_classification:
        # Labels 0..K-1 for every model (hastie's are -1 and 1), so that
        # XGBoost takes them and the probabilities' columns are the labels.
        y = np.unique(y, return_inverse=True)[1]
    factories = CLASSIFIERS if is_classification else REGRESSORS
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=seed, stratify=y if is_classification else None,
    )
    estimator = factories[model](seed)
    with warnings.catch_warnings():
        if model in _peers.PEERS:
            # pytabkit's and Lightning's deprecation and tensor notices would
            # drown the results; the package's own warnings stay visible.
            for category in (UserWarning, FutureWarning, DeprecationWarning):
                warnings.simplefilter("ignore", category)
        start = time.perf_counter()
        estimator.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        # CatBoost predicts a column (n, 1) for multiclass targets.
        prediction = np.ravel(estimator.predict(X_test))
        proba = estimator.predict_proba(X_test) if is_classification else None
    if not is_classification:
        return r2_score(y_test, prediction), None, None, seconds
    loss, brier = _peers.probability_scores(y_test, proba)
    return accuracy_score(y_test, prediction), loss, brier, seconds


def score_table(datasets, seeds, models, jobs=1):
    """Mean and spread of the test score over ``seeds``, the mean log loss and
    Brier score (``None`` for regressors) and the median fit time, one row per
    data set and model. With ``jobs > 1`` the fits run in that many
    worker processes of one thread each, all under the same load."""
    pairs = []
    for name in datasets:
        factories = CLASSIFIERS if DATASETS[name][1] else REGRESSORS
        pairs += [(name, m) for m in factories if models is None or m in models]
    tasks = [(name, model, seed) for name, model in pairs for seed in seeds]
    if jobs == 1:
        results = [fit_and_score(*task) for task in tasks]
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=jobs)(delayed(fit_and_score)(*task, 1) for task in tasks)
    rows = []
    for i, (name, model) in enumerate(pairs):
        scores, losses, briers, times = zip(*results[i * len(seeds) : (i + 1) * len(seeds)])
        classification = losses[0] is not None
        row = (name, model, np.mean(scores), np.std(scores),
               np.mean(losses) if classification else None,
               np.mean(briers) if classification else None, statistics.median(times))
        extra = f"  log loss {row[4]:.4f}  Brier {row[5]:.4f}" if classification else ""
        print(f"{name:<14} {model:<22} score {row[2]:.4f} +- {row[3]:.4f}{extra}  "
              f"fit {row[6]:6.1f} s", flush=True)
        rows.append(row)
    return rows


def round_cost(n_rounds=30, n_samples=20000):
    """Mean time of the last 5 rounds over rounds 1-5 (round 0 also trains the stem)."""
    X, y = make_classification(n_samples=n_samples, n_features=50, random_state=0)
    stamps = []

    def monitor(i, estimator, local_vars):
        stamps.append(time.perf_counter())
        return False

    # A round normally ends early when its objective stops improving; the cost
    # comparison needs every round to run the same number of epochs.
    patience = _trainer.ROUND_PATIENCE
    _trainer.ROUND_PATIENCE = 10**9
    try:
        BoostResNetClassifier(
            n_estimators=n_rounds, epochs_per_block=2, early_stopping=False, random_state=0
        ).fit(X, y, monitor=monitor)
    finally:
        _trainer.ROUND_PATIENCE = patience
    durations = np.diff(stamps)
    return float(np.mean(durations[-5:]) / np.mean(durations[:5]))


def staged_cost(n_samples=100000):
    """Time of all staged predictions over the time of one ``predict``."""
    X, y = make_classification(n_samples=2000, n_features=50, random_state=0)
    clf = BoostResNetClassifier(n_estimators=20, epochs_per_block=1, random_state=0).fit(X, y)
    X_big = np.random.RandomState(0).normal(size=(n_samples, 50))
    clf.predict(X_big[:100])
    start = time.perf_counter()
    clf.predict(X_big)
    one = time.perf_counter() - start
    start = time.perf_counter()
    for _ in clf.staged_predict(X_big):
        pass
    staged = time.perf_counter() - start
    return staged / one


# Rows of the memory measurement: the boosted network caches two
# representations of every row, the end-to-end one keeps every block's
# activations of a batch, so each is measured where its training memory
# dominates the interpreter's.
MEMORY_ROWS = {"boost": 300_000, "e2e": 20_000}


def _resident_kib():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() // 1024


def _peak_memory_child(kind, n_blocks, queue):
    import torch

    torch.set_num_threads(2)
    X, y = make_classification(n_samples=MEMORY_ROWS[kind], n_features=100, random_state=0)
    X = X.astype(np.float32)
    # The resident size before the fit, not the peak so far: generating the
    # data had a transient peak of its own.
    baseline = _resident_kib()
    if kind == "boost":
        BoostResNetClassifier(
            n_estimators=n_blocks, epochs_per_block=1, batch_size=4096,
            early_stopping=False, random_state=0,
        ).fit(X, y)
    else:
        ResNetClassifier(
            n_blocks=n_blocks, max_epochs=1, batch_size=4096, early_stopping=False,
            random_state=0,
        ).fit(X, y)
    queue.put((baseline, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def peak_memory(kind, n_blocks):
    """Peak resident memory (KiB) of one fit in a fresh process, and the resident size before it."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_peak_memory_child, args=(kind, n_blocks, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def write_rst(rows, costs, path):
    lines = [
        ".. This file is written by benchmarks/run.py; do not edit by hand.",
        "",
        ".. list-table:: Mean test score (accuracy or R^2) over seeds 0, 1, 2, its spread, "
        "the classifiers' mean test log loss and Brier score, and median fit time",
        "   :header-rows: 1",
        "",
        "   * - dataset",
        "     - model",
        "     - mean score",
        "     - spread (std)",
        "     - log loss",
        "     - Brier",
        "     - median fit time (s)",
    ]
    for name, model, mean, std, loss, brier, seconds in rows:
        lines += [
            f"   * - {name}",
            f"     - {model}",
            f"     - {mean:.4f}",
            f"     - {std:.4f}",
            f"     - {loss:.4f}" if loss is not None else "     -",
            f"     - {brier:.4f}" if brier is not None else "     -",
            f"     - {seconds:.1f}",
        ]
    if costs:
        lines += ["", ".. list-table:: Cost ratios", "   :header-rows: 1", "",
                  "   * - measurement", "     - ratio"]
        for label, value in costs:
            lines += [f"   * - {label}", f"     - {value:.2f}"]
    path.write_text("\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--models", nargs="*", default=None, choices=MODELS, metavar="MODEL",
                        help=f"models to fit (default: all), among: {', '.join(MODELS)}")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--no-costs", action="store_true", help="skip the cost ratios")
    parser.add_argument("--jobs", type=int, default=1,
                        help="worker processes for the score table (one thread each)")
    parser.add_argument("--output", type=Path, default=None,
                        help="RST table to write (default: docs/benchmark_results.rst "
                        "when every dataset, model and seed and the costs ran)")
    parser.add_argument("--no-write", action="store_true",
                        help="write no results file, even after a complete run")
    args = parser.parse_args(argv)
    print(f"Python {sys.version.split()[0]}, {multiprocessing.cpu_count()} CPUs", flush=True)
    rows = score_table(args.datasets, args.seeds, args.models, args.jobs)
    costs = []
    if not args.no_costs:
        costs.append(("round cost: last 5 rounds / rounds 1-5 (30 rounds, 2 epochs each)",
                      round_cost()))
        print(f"round cost ratio {costs[-1][1]:.2f}", flush=True)
        costs.append(("staged cost: all staged predictions / one predict (20 blocks)",
                      staged_cost()))
        print(f"staged cost ratio {costs[-1][1]:.2f}", flush=True)
        for kind, label in (("boost", "BoostResNet"), ("e2e", "ResNet (end to end)")):
            base4, peak4 = peak_memory(kind, 4)
            base64, peak64 = peak_memory(kind, 64)
            costs.append((f"peak memory 64 / 4 blocks, {label} ({MEMORY_ROWS[kind]:,} rows)",
                          peak64 / peak4))
            costs.append((f"peak memory above the resident size before the fit, 64 / 4 blocks, {label}",
                          (peak64 - base64) / (peak4 - base4)))
            print(f"{label} ({MEMORY_ROWS[kind]:,} rows): peak 4 blocks {peak4 / 1024:.0f} MiB, "
                  f"64 blocks {peak64 / 1024:.0f} MiB (before the fit {base4 / 1024:.0f} MiB)",
                  flush=True)
    output = args.output
    complete = set(args.datasets) == set(DATASETS) and args.seeds == [0, 1, 2]
    if output is None and complete and args.models is None and costs:
        output = Path(__file__).resolve().parent.parent / "docs" / "benchmark_results.rst"
    if output is not None and not args.no_write:
        write_rst(rows, costs, output)
        print(f"wrote {output}")


if __name__ == "__main__":
    main()
