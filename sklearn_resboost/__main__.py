"""Fit a boosted residual network on a built-in dataset: ``python -m sklearn_resboost``."""

import argparse
import sys
import time

from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, make_friedman1
from sklearn.model_selection import train_test_split

from . import BoostResNetClassifier, BoostResNetRegressor

DATASETS = {
    "digits": (lambda: load_digits(return_X_y=True), True),
    "breast_cancer": (lambda: load_breast_cancer(return_X_y=True), True),
    "diabetes": (lambda: load_diabetes(return_X_y=True), False),
    "friedman1": (lambda: make_friedman1(n_samples=10000, noise=1.0, random_state=0), False),
}


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_resboost",
        description="Fit a BoostResNet estimator on a built-in dataset (75/25 split) and "
        "report its test score after every block.",
    )
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="digits")
    parser.add_argument("--n-estimators", type=int, default=None, help="number of blocks")
    parser.add_argument("--epochs-per-block", type=int, default=None)
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)

    load, is_classification = DATASETS[args.dataset]
    X, y = load()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=args.random_state,
        stratify=y if is_classification else None,
    )
    params = {"random_state": args.random_state, "verbose": 1}
    if args.n_estimators is not None:
        params["n_estimators"] = args.n_estimators
    if args.epochs_per_block is not None:
        params["epochs_per_block"] = args.epochs_per_block
    estimator = (BoostResNetClassifier if is_classification else BoostResNetRegressor)(**params)
    print(f"{type(estimator).__name__} on {args.dataset}: {len(X_train)} training rows, "
          f"{X.shape[1]} features")
    start = time.perf_counter()
    estimator.fit(X_train, y_train)
    elapsed = time.perf_counter() - start
    metric = "accuracy" if is_classification else "R^2"
    print("\nblocks  test " + metric)
    for depth, score in enumerate(estimator.staged_score(X_test, y_test), start=1):
        print(f"{depth:>6d}  {score:.4f}")
    print(f"\nfitted {estimator.n_estimators_} blocks in {elapsed:.1f} s on {estimator.device_}; "
          f"test {metric}: {estimator.score(X_test, y_test):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
