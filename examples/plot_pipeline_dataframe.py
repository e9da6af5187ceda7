"""
===================================================
A boosted ResNet in a pipeline on a mixed DataFrame
===================================================

Real tables mix numeric columns on very different scales, with missing
values, and categorical columns stored as text. This example puts a
:class:`~sklearn_resboost.BoostResNetClassifier` at the end of a
:class:`~sklearn.pipeline.Pipeline` whose
:class:`~sklearn.compose.ColumnTransformer` imputes the numeric columns and
one-hot encodes the categorical ones. The numeric columns are not scaled: the
network's stem standardises every feature it receives.
"""

# %%
# A synthetic customer table
# --------------------------
# Four numeric columns on scales from units to hundreds of thousands, two of
# them with missing values, and two text columns. The target (whether a
# customer leaves) depends on all six, nonlinearly: a threshold on support
# calls, a risk that decays with tenure, a U-shape in age, the logarithm of
# income, and an interaction of region and age.
import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from sklearn_resboost import BoostResNetClassifier

# The test suite sets SKLEARN_RESBOOST_FAST_EXAMPLES=1 to run a smaller version
# of this example; the gallery shows the full one.
FAST = os.environ.get("SKLEARN_RESBOOST_FAST_EXAMPLES") == "1"

rng = np.random.RandomState(0)
n = 600 if FAST else 3000
df = pd.DataFrame(
    {
        "age": rng.randint(18, 90, n).astype(float),
        "income": np.round(rng.lognormal(mean=10.5, sigma=0.6, size=n), -2),
        "tenure_months": rng.randint(0, 120, n).astype(float),
        "support_calls": rng.poisson(2.0, n).astype(float),
        "region": rng.choice(["north", "south", "east", "west"], n),
        "plan": rng.choice(["basic", "standard", "premium"], n, p=[0.5, 0.3, 0.2]),
    }
)
logit = (
    -4.0
    + 3.0 * (df["support_calls"] >= 3)
    + 5.0 * np.exp(-df["tenure_months"] / 24)
    - 3.0 * (df["plan"] == "premium")
    + 4.0 * ((df["region"] == "south") & (df["age"] < 35))
    - 3.0 * np.log(df["income"] / 40_000)
    + 0.002 * (df["age"] - 50) ** 2
)
y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
for column, fraction in [("income", 0.15), ("tenure_months", 0.1)]:
    df.loc[rng.uniform(size=n) < fraction, column] = np.nan
print(df.head())
print(f"\nchurn rate {y.mean():.2f}; missing values:\n{df.isna().sum()}")

# %%
# The pipeline
# ------------
# Median imputation (with an indicator column for each imputed feature) for
# the numeric columns, one-hot encoding for the text columns. Dense output
# keeps the network's input a plain array, and ``set_output`` passes column
# names on, so the classifier records them in ``feature_names_in_``.
numeric = ["age", "income", "tenure_months", "support_calls"]
categorical = ["region", "plan"]
preprocess = ColumnTransformer(
    [
        ("numeric", SimpleImputer(strategy="median", add_indicator=True), numeric),
        ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
    ]
).set_output(transform="pandas")
model = make_pipeline(
    preprocess,
    BoostResNetClassifier(
        n_estimators=4 if FAST else 12,
        width=32,
        hidden_size=32,
        epochs_per_block=3,
        lr=1e-2,
        device="cpu",
        random_state=0,
    ),
)

X_train, X_test, y_train, y_test = train_test_split(df, y, stratify=y, random_state=0)
model.fit(X_train, y_train)
print(f"test accuracy {model.score(X_test, y_test):.3f}")
clf = model[-1]
print(clf.feature_names_in_)

# %%
# Staged scores through the pipeline
# ----------------------------------
# The staged methods belong to the last step: transform the test rows with the
# fitted preprocessing, then score every stage of the network in one pass.
# The dashed line is the accuracy of always predicting the majority class.
# The labels are drawn at random from the churn probabilities, so no model
# can be perfect here; the first block does most of the work, and the later
# ones add to the ranking of the customers (the ROC AUC) in small steps.
from sklearn.metrics import roc_auc_score

X_test_encoded = model[:-1].transform(X_test)
staged_accuracy = [np.mean(p == y_test) for p in clf.staged_predict(X_test_encoded)]
staged_auc = [roc_auc_score(y_test, p[:, 1]) for p in clf.staged_predict_proba(X_test_encoded)]
stages = np.arange(1, clf.n_estimators_ + 1)

fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
ax.plot(stages, staged_accuracy, "o-", label="accuracy")
ax.plot(stages, staged_auc, "s-", label="ROC AUC")
ax.axhline(max(y_test.mean(), 1 - y_test.mean()), color="grey", ls="--", lw=1,
           label="majority class")
ax.set(xlabel="blocks", ylabel="test score", title="Staged test scores of the pipeline")
ax.grid(alpha=0.3)
ax.xaxis.set_major_locator(MaxNLocator(integer=True))
ax.legend()
plt.show()

# %%
# Searching the pipeline
# ----------------------
# The pipeline is an ordinary scikit-learn estimator: parameters of the network
# are reached with the step's name as prefix, for instance in a grid search.
from sklearn.model_selection import GridSearchCV

search = GridSearchCV(
    model, {"boostresnetclassifier__learning_rate": [0.3, 1.0]}, cv=3, scoring="roc_auc"
)
search.fit(X_train, y_train)
print(search.best_params_, f"cross-validated ROC AUC {search.best_score_:.3f}")
