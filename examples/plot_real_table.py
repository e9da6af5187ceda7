"""
=====================================================
A raw credit table: text columns and missing values
=====================================================

A :class:`~sklearn_resboost.BoostResNetClassifier` takes a pandas DataFrame as
it comes: text and ``category`` columns become categorical features
(``categorical_features="from_dtype"``, the default), and NaN or ``None``
are missing values, in ``fit`` and in every prediction method. No imputer, no
encoder, no pipeline. This example fits one on a synthetic credit table and
looks at what its stem learned for the missing values and the categories.
See :ref:`real_tables` for the rules.
"""

# %%
# A synthetic credit table
# ------------------------
# Three numeric columns with missing values, a low-cardinality text column
# with ``None`` values (``home``), a text column with 200 zip codes of very
# unequal frequencies, some of them rare, and a pandas ``category`` column
# (``purpose``). The chance of default depends on all of them, and on whether
# a value is missing: an applicant who does not state an income, or has no
# recorded employment, is riskier. The missing debt ratios carry no signal.
import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from sklearn_resboost import BoostResNetClassifier

# The test suite sets SKLEARN_RESBOOST_FAST_EXAMPLES=1 to run a smaller version
# of this example; the gallery shows the full one.
FAST = os.environ.get("SKLEARN_RESBOOST_FAST_EXAMPLES") == "1"

rng = np.random.RandomState(0)
n = 1500 if FAST else 4000
zips = np.array([f"Z{i:03d}" for i in range(200)])
zip_share = 1.0 / np.arange(1, 201) ** 1.1  # a few large zip codes, many small ones
zip_effect = rng.normal(0.0, 0.8, size=200)
home_effect = {"own": -0.8, "mortgage": -0.3, "rent": 0.4, "other": 0.9}
purpose_effect = {
    "car": 0.0,
    "education": 0.3,
    "home_improvement": -0.4,
    "business": 0.8,
    "vacation": 0.5,
}

age = rng.randint(21, 76, n).astype(float)
income = np.round(rng.lognormal(mean=10.6, sigma=0.5, size=n), -2)
debt_ratio = np.clip(rng.beta(2.0, 5.0, size=n) * 1.5, 0.0, 1.2)
months_employed = np.minimum(rng.exponential(60.0, size=n), 12 * (age - 18)).round()
home = rng.choice(list(home_effect), size=n, p=[0.25, 0.35, 0.33, 0.07])
zip_code = rng.choice(zips, size=n, p=zip_share / zip_share.sum())
purpose = rng.choice(list(purpose_effect), size=n, p=[0.35, 0.15, 0.25, 0.15, 0.10])

income_missing = rng.uniform(size=n) < 0.12
employed_missing = rng.uniform(size=n) < 0.10
logit = (
    -1.5
    - 1.2 * np.log(income / 40_000)
    + 3.0 * (debt_ratio - 0.4)
    - 0.6 * np.log1p(months_employed / 12)
    + 0.0008 * (age - 45) ** 2
    + 1.5 * income_missing
    + 1.2 * employed_missing
    + np.vectorize(home_effect.get)(home)
    + zip_effect[np.searchsorted(zips, zip_code)]
    + np.vectorize(purpose_effect.get)(purpose)
)
y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)

X = pd.DataFrame(
    {
        "age": age,
        "income": np.where(income_missing, np.nan, income),
        "debt_ratio": np.where(rng.uniform(size=n) < 0.10, np.nan, debt_ratio),
        "months_employed": np.where(employed_missing, np.nan, months_employed),
        "home": pd.Series(home, dtype=object).where(rng.uniform(size=n) >= 0.05, None),
        "zip": zip_code.astype(object),
        "purpose": pd.Categorical(purpose),
    }
)
print(X.head())
print(f"\n{X.dtypes.astype(str).to_dict()}")
print(f"\ndefault rate {y.mean():.2f}; missing values per column:\n{X.isna().sum().to_dict()}")
print(
    f"default rate when income is missing {y[income_missing].mean():.2f}, "
    f"when it is given {y[~income_missing].mean():.2f}"
)

# %%
# The raw frame, straight into ``fit``
# ------------------------------------
# The text columns ``home`` and ``zip`` (``object`` or ``string`` dtype) and
# the ``category`` column ``purpose`` are categorical; ``categories_`` lists,
# per categorical column, the categories with at least ``min_frequency`` (5)
# training rows. The rarer zip codes share one *infrequent* vector.
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
clf = BoostResNetClassifier(
    n_estimators=6 if FAST else 10,
    width=32,
    hidden_size=32,
    epochs_per_block=3,
    lr=1e-2,
    device="cpu",
    random_state=0,
)
clf.fit(X_train, y_train)

print(dict(zip(clf.feature_names_in_, clf.is_categorical_.tolist())))
categorical = clf.feature_names_in_[clf.is_categorical_]
for name, levels in zip(categorical, clf.categories_):
    seen = X_train[name].nunique()
    print(f"{name}: {len(levels)} categories kept of {seen} seen in fit")
# The stem's codes of the k-th categorical feature are 0 (missing), 1
# (infrequent or unseen) and 2 + i for categories_[k][i], with their training
# frequencies in stem.frequency.
stem = clf.module_.stem
zip_frequency = stem.frequency[stem.code_feature == list(categorical).index("zip")].numpy()
print(f"training rows whose zip code is infrequent: {zip_frequency[1]:.1%}")
auc = roc_auc_score(y_test, clf.predict_proba(X_test)[:, 1])
print(f"test ROC AUC {auc:.3f}")

# %%
# HistGradientBoosting with ``categorical_features="from_dtype"`` takes the
# same frame once its text columns are cast to ``category`` (it reads only
# that dtype as categorical); it is a reference point here, not a benchmark.
from sklearn.ensemble import HistGradientBoostingClassifier


def as_category(frame):
    return frame.astype({"home": "category", "zip": "category"})


hgb = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
hgb.fit(as_category(X_train), y_train)
hgb_auc = roc_auc_score(y_test, hgb.predict_proba(as_category(X_test))[:, 1])
print(f"HistGradientBoosting test ROC AUC {hgb_auc:.3f}")

# %%
# Every stage from one fit
# ------------------------
# ``staged_predict_proba`` takes the raw frame too, and gives the predicted
# probabilities after each block in one pass over the test rows. On this
# table, whose log-odds are nearly a sum of one term per column, the first
# block does the work. Early stopping, on by default above 250 training rows,
# held a tenth of them out and kept the stage of lowest validation loss (three
# blocks here), before later blocks could fit the noise of the training
# labels.
staged_auc = [roc_auc_score(y_test, p[:, 1]) for p in clf.staged_predict_proba(X_test)]
stages = np.arange(1, clf.n_estimators_ + 1)
print("staged test ROC AUC:", np.round(staged_auc, 3))

fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
ax.plot(stages, staged_auc, "o-", label="BoostResNetClassifier, staged")
ax.axhline(hgb_auc, color="grey", ls="--", lw=1, label="HistGradientBoosting")
ax.set(xlabel="blocks", ylabel="test ROC AUC", title="Staged test ROC AUC on the raw frame")
ax.grid(alpha=0.3)
ax.xaxis.set_major_locator(MaxNLocator(integer=True))
ax.legend()
plt.show()

# %%
# What the stem learned for missing values
# ----------------------------------------
# A missing numeric value adds its feature's learned vector,
# ``module_.stem.missing[j]``, to the residual stream in place of the
# standardised value. Left: the norm of that vector per numeric feature
# (``age`` has no missing value in ``fit``, so its vector stays zero). Right:
# the change of the mean predicted probability of default on the test rows
# when the whole column is set to NaN. The two columns whose missingness
# raises the risk get the large vectors and the large increases; a missing
# ``debt_ratio``, which carries no signal, moves the prediction much less. A
# missing ``age`` enters as the training mean age, which for this U-shaped
# risk is the low-risk middle.
numeric = clf.feature_names_in_[~clf.is_categorical_]
missing_norm = stem.missing.detach().norm(dim=1).numpy()[~clf.is_categorical_]
base = clf.predict_proba(X_test)[:, 1].mean()
print(f"mean predicted P(default) on the test rows: {base:.3f}")
shift = np.array(
    [clf.predict_proba(X_test.assign(**{name: np.nan}))[:, 1].mean() - base for name in numeric]
)
for name, norm, delta in zip(numeric, missing_norm, shift):
    print(f"{name:>16}: |missing vector| {norm:.3f}, mean probability {delta:+.3f} when NaN")

fig, (ax_norm, ax_shift) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
ax_norm.barh(numeric, missing_norm, color="tab:blue")
ax_norm.set(xlabel="norm of stem.missing[j]", title="Learned missing-value vectors")
ax_shift.barh(numeric, shift, color=np.where(shift > 0, "tab:red", "tab:green"))
ax_shift.axvline(0, color="black", lw=0.8)
ax_shift.set(xlabel="change of mean P(default)", title="Setting a column to NaN")
for ax in (ax_norm, ax_shift):
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
plt.show()

# %%
# What the stem learned for categories
# ------------------------------------
# Each category of ``home`` has its own vector in the stem, and so does a
# missing value (``None``). Setting the ``home`` column of every test row to
# one category in turn, and averaging the predicted probability of default,
# shows what each vector does, as a partial dependence plot would. A
# category never seen in ``fit`` raises no error: it maps to the infrequent
# vector, which for ``home`` had no training row (no category of ``home`` was
# rare), so it is zero and the category enters as the training average of the
# feature: its bar is close to the dashed line of the test rows as they are.
# The four categories come out in the order of the risks the table was drawn
# with: own, mortgage, rent, other.
levels = list(clf.categories_[list(categorical).index("home")])
values = levels + [None, "never seen"]
labels = levels + ["missing (None)", "never seen"]
dependence = np.array(
    [clf.predict_proba(X_test.assign(home=value))[:, 1].mean() for value in values]
)
codes = clf.encode_inputs(X_test.iloc[:1].assign(home="never seen"))
print(f"code of an unseen home: {codes[0, list(X.columns).index('home')]:.0f} (1 = infrequent)")
for label, p in zip(labels, dependence):
    print(f"home = {label!s:>15}: mean P(default) {p:.3f}")

fig, ax = plt.subplots(figsize=(6.5, 3.8), layout="constrained")
ax.bar(labels, dependence, color=["tab:blue"] * len(levels) + ["tab:gray", "tab:orange"])
ax.axhline(base, color="black", ls="--", lw=1, label="test rows as they are")
ax.set(ylabel="mean predicted P(default)", title="The test rows with home set to each value")
ax.set_ylim(0, 1.15 * dependence.max())
ax.legend(loc="upper left")
plt.show()
