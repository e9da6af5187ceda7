"""The strong tabular peers of the benchmarks, built in one place.

LightGBM, XGBoost, CatBoost and pytabkit's RealMLP-TD, each with its default
parameters and one thread, for ``benchmarks/run.py`` and
``benchmarks/tables.py``. Their quirks, which the scripts handle:

* XGBoost needs classification labels coded 0..K-1;
* CatBoost's ``predict`` returns a column ``(n, 1)`` for multiclass targets
  (ravel it before comparing it with ``y``); its categorical columns must be
  strings or ints without NaN (:func:`for_catboost`);
* RealMLP refuses NaN in numeric columns (:func:`median_imputed`) and reads
  categorical columns from the pandas dtype;
* LightGBM and XGBoost use OpenMP: set ``OMP_WAIT_POLICY=PASSIVE`` in the
  environment before anything loads it (libgomp's spinning workers made their
  fits 10-15 times slower on shared cores).

The libraries are imported when a peer is built, so that a script runs the
other models without them.
"""

import numpy as np
from sklearn.metrics import brier_score_loss, log_loss

PEERS = ("LightGBM", "XGBoost", "CatBoost", "RealMLP-TD")

# The form of X each peer takes in benchmarks/tables.py: "category" (the
# categorical columns as pandas category), "catboost" (as strings, "NA" for a
# missing value) or "realmlp" (as category, missing numbers imputed).
FORM = {"LightGBM": "category", "XGBoost": "category", "CatBoost": "catboost",
        "RealMLP-TD": "realmlp"}


def classifier(name, seed, categorical=()):
    """A new peer classifier, one thread, ``random_state`` ``seed``;
    ``categorical`` names CatBoost's categorical columns."""
    return _make(name, True, seed, categorical)


def regressor(name, seed, categorical=()):
    """A new peer regressor, one thread, ``random_state`` ``seed``;
    ``categorical`` names CatBoost's categorical columns."""
    return _make(name, False, seed, categorical)


def _make(name, classification, seed, categorical):
    if name == "LightGBM":
        from lightgbm import LGBMClassifier, LGBMRegressor

        cls = LGBMClassifier if classification else LGBMRegressor
        return cls(random_state=seed, n_jobs=1, verbose=-1)
    if name == "XGBoost":
        from xgboost import XGBClassifier, XGBRegressor

        cls = XGBClassifier if classification else XGBRegressor
        return cls(tree_method="hist", enable_categorical=True, n_jobs=1, random_state=seed)
    if name == "CatBoost":
        from catboost import CatBoostClassifier, CatBoostRegressor

        cls = CatBoostClassifier if classification else CatBoostRegressor
        return cls(cat_features=list(categorical), thread_count=1, random_seed=seed,
                   verbose=False, allow_writing_files=False)
    if name == "RealMLP-TD":
        from pytabkit import RealMLP_TD_Classifier, RealMLP_TD_Regressor

        cls = RealMLP_TD_Classifier if classification else RealMLP_TD_Regressor
        return cls(random_state=seed, n_threads=1, device="cpu")
    raise ValueError(f"unknown peer {name!r}; choose from {PEERS}")


def as_category(X, categorical):
    """The categorical columns as pandas ``category`` (NaN stays missing), for
    the peers that read categories from the dtype. The categories are those
    of the whole frame (its schema), so that both splits share their codes."""
    X = X.copy()
    for c in categorical:
        X[c] = X[c].astype("category")
    return X


def for_catboost(X, categorical):
    """CatBoost's categorical columns must be strings without NaN."""
    X = X.copy()
    for c in categorical:
        X[c] = X[c].astype(object).where(X[c].notna(), "NA").astype(str)
    return X


def median_imputed(X_train, X_test, categorical):
    """RealMLP refuses NaN in numeric columns: the training split's medians."""
    numeric = [c for c in X_train.columns if c not in categorical]
    medians = X_train[numeric].median()
    return X_train.fillna(medians), X_test.fillna(medians)


def probability_scores(y_test, proba):
    """The log loss and the Brier score of the predicted probabilities, for
    labels coded 0..K-1 (the columns of ``proba``).

    Binary: the mean squared error of the positive class's probability
    (:func:`sklearn.metrics.brier_score_loss`). Multiclass: the squared error
    of the probabilities against the one-hot labels, summed over the classes
    and averaged over the rows.
    """
    proba = np.asarray(proba)
    labels = np.arange(proba.shape[1])
    loss = log_loss(y_test, proba, labels=labels)
    if len(labels) == 2:
        return loss, brier_score_loss(y_test, proba[:, 1])
    onehot = np.eye(len(labels))[np.asarray(y_test)]
    return loss, float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))

