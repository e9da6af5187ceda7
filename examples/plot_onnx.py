"""
=============================================
Serving without torch: export to ONNX
=============================================

A fitted estimator of the package exports itself as an ONNX model with
``to_onnx``; onnxruntime then predicts what ``predict`` and ``predict_proba``
predict, in a process (or a language) without torch. This example exports a
:class:`~sklearn_resboost.BoostResNetClassifier` fitted on the digits,
checks that onnxruntime agrees with it, exports a model fitted on a
DataFrame with a text column, and compares the rows per second of both
sides at batch 1 and at batch 10,000. See :ref:`onnx`.
"""

# %%
# Fit and export
# --------------
# ``to_onnx`` returns an ``onnx.ModelProto`` and, given a path, writes it.
# The model takes one float32 input ``X`` and returns ``label`` and
# ``probabilities``.
import os
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_resboost import BoostResNetClassifier, onnx_feed

# The test suite sets SKLEARN_RESBOOST_FAST_EXAMPLES=1 to run a smaller version
# of this example; the gallery shows the full one.
FAST = os.environ.get("SKLEARN_RESBOOST_FAST_EXAMPLES") == "1"

X, y = load_digits(return_X_y=True)
X = X.astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
clf = BoostResNetClassifier(n_estimators=3 if FAST else 20, random_state=0)
clf.fit(X_train, y_train)

folder = tempfile.TemporaryDirectory()
path = Path(folder.name) / "digits.onnx"
clf.to_onnx(path)
print(f"{path.name}: {path.stat().st_size / 1e6:.2f} MB, {clf.n_estimators_} blocks")

# %%
# Predict with onnxruntime
# ------------------------
# The session needs only onnxruntime and numpy; the labels are those of
# ``predict`` and the probabilities those of ``predict_proba``, to float32
# precision (the estimator computes in float64 on the CPU).
options = onnxruntime.SessionOptions()
options.intra_op_num_threads = 1
session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
print("inputs:", [(i.name, i.type, i.shape) for i in session.get_inputs()])
print("outputs:", [(o.name, o.type, o.shape) for o in session.get_outputs()])
label, proba = session.run(None, {"X": X_test})
print("labels equal:", bool((label == clf.predict(X_test)).all()))
print(f"largest probability difference: {np.abs(proba - clf.predict_proba(X_test)).max():.1e}")

# %%
# A DataFrame with a text column
# ------------------------------
# An estimator fitted on a DataFrame with categorical columns exports one
# input per column, named after it: a string tensor for a text column, float32
# for the others. :func:`~sklearn_resboost.onnx_feed` builds them from a
# DataFrame: a missing text value becomes ``""``, the missing code of the
# graph; a category never seen in ``fit`` takes the infrequent categories'
# vector, as in ``predict``.
rng = np.random.RandomState(0)
n = 400
frame = pd.DataFrame(
    {
        "size": rng.normal(size=n),
        "colour": rng.choice(["red", "green", "blue", None], size=n),
    }
)
target = (frame["size"] + (frame["colour"] == "red") + rng.normal(size=n) > 0.5).astype(int)
table_clf = BoostResNetClassifier(n_estimators=2 if FAST else 5, random_state=0)
table_clf.fit(frame, target)
table_session = onnxruntime.InferenceSession(table_clf.to_onnx().SerializeToString())
new = pd.DataFrame({"size": [0.3, np.nan, -1.0], "colour": ["red", None, "purple"]})
feed = onnx_feed(new, table_session)
print({name: value.ravel().tolist() for name, value in feed.items()})
_, table_proba = table_session.run(None, feed)
print("onnxruntime:  ", table_proba[:, 1])
print("predict_proba:", table_clf.predict_proba(new)[:, 1])

# %%
# Rows per second
# ---------------
# At batch 1, ``predict_proba`` pays for its input checks and for the float64
# copy of the network it makes per call; onnxruntime runs the graph alone. At
# batch 10,000 both spend their time in matrix products, and the gap narrows.
# ``benchmarks/onnx_latency.py`` measures the same, with more repeats; the
# numbers here depend on the machine that built the page.


def rows_per_second(run, batch, seconds=0.2 if FAST else 1.0):
    calls, start = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - start < seconds:
        run()
        calls += 1
    return calls * batch / (time.perf_counter() - start)


batches = [1, 10_000]
rates = {"predict_proba": [], "onnxruntime": []}
for batch in batches:
    rows = X_test[rng.randint(len(X_test), size=batch)]
    runs = {
        "predict_proba": lambda rows=rows: clf.predict_proba(rows),
        "onnxruntime": lambda rows=rows: session.run(None, {"X": rows}),
    }
    for side, run in runs.items():
        rates[side].append(rows_per_second(run, batch))
for i, batch in enumerate(batches):
    ratio = rates["onnxruntime"][i] / rates["predict_proba"][i]
    print(f"batch {batch:>6,}: onnxruntime {ratio:.1f} times the rows per second")

fig, ax = plt.subplots(figsize=(6, 3.5))
positions = np.arange(len(batches))
for offset, (side, values) in zip((-0.2, 0.2), rates.items()):
    ax.bar(positions + offset, values, width=0.4, label=side)
ax.set_xticks(positions, [f"batch {b:,}" for b in batches])
ax.set_yscale("log")
ax.set_ylabel("rows per second (one thread)")
ax.legend()
fig.tight_layout()
plt.show()
folder.cleanup()
