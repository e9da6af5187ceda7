"""Tests of the ONNX export: onnxruntime predicts what the estimators predict."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from _params import TINY_BOOST, TINY_E2E
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, make_friedman1
from sklearn.exceptions import NotFittedError

from sklearn_resboost import (
    BoostResNetClassifier,
    BoostResNetRegressor,
    MLPBlock,
    ResNetClassifier,
    ResNetRegressor,
    onnx_feed,
    register_onnx_converters,
)

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")

# The graph computes in float32, predict in float64 on the CPU.
TOLERANCE = dict(rtol=1e-5, atol=1e-5)
ESTIMATORS = {
    "boost": (BoostResNetClassifier, BoostResNetRegressor, TINY_BOOST),
    "e2e": (ResNetClassifier, ResNetRegressor, TINY_E2E),
    "plain": (ResNetClassifier, ResNetRegressor, {**TINY_E2E, "skip": False}),
}


def _session(model):
    onnx.checker.check_model(model, full_check=True)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _run(model, X):
    session = _session(model)
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, onnx_feed(X, session))))


def _stacked(staged, n_samples):
    return np.stack([np.reshape(stage, (n_samples, -1)) for stage in staged])


def _check_classifier(clf, X, stages=False):
    outputs = _run(clf.to_onnx(stages=stages), X)
    assert list(outputs)[:2] == ["label", "probabilities"]
    assert outputs["probabilities"].dtype == np.float32
    np.testing.assert_allclose(outputs["probabilities"], clf.predict_proba(X), **TOLERANCE)
    np.testing.assert_array_equal(outputs["label"], clf.predict(X))
    return outputs


def _check_regressor(reg, X):
    outputs = _run(reg.to_onnx(), X)
    assert list(outputs) == ["variable"]
    assert outputs["variable"].shape == (len(X), reg.n_outputs_)
    expected = reg.predict(X).reshape(len(X), -1)
    np.testing.assert_allclose(outputs["variable"], expected, **TOLERANCE)


@pytest.fixture(scope="module")
def breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600].astype(np.float32), y[:600]


@pytest.fixture(scope="module")
def table():
    """A frame with text and pandas categories, missing values everywhere, and its target."""
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    n = 300
    x = rng.normal(size=n)
    x[rng.rand(n) < 0.1] = np.nan
    city = rng.choice(["paris", "lyon", "nice", "brest"], size=n, p=[0.5, 0.3, 0.18, 0.02])
    colour = rng.choice(["red", "blue"], size=n).astype(object)
    colour[rng.rand(n) < 0.1] = None
    X = pd.DataFrame(
        {
            "x": x,
            "city": city.astype(object),
            "colour": pd.Series(colour, dtype="category"),
            "count": rng.poisson(3, size=n).astype(float),
        }
    )
    y = (np.nan_to_num(x) + (city == "paris") + rng.normal(scale=0.5, size=n) > 0.8).astype(int)
    return X, y


def _table_for_prediction(X):
    """The rows of ``X`` with a category unseen in fit and missing values in every column."""
    X = X.head(40).copy()
    X.loc[X.index[0], "city"] = "tokyo"
    X.loc[X.index[1], "city"] = None
    X.loc[X.index[2], "colour"] = None
    X.loc[X.index[3], "x"] = np.nan
    X.loc[X.index[4], "count"] = np.nan
    return X


@pytest.mark.parametrize("kind", list(ESTIMATORS))
@pytest.mark.parametrize("loss", ["log_loss", "exponential"])
def test_binary_classifier(breast_cancer, kind, loss):
    X, y = breast_cancer
    cls, _, params = ESTIMATORS[kind]
    _check_classifier(cls(**params, loss=loss).fit(X, y), X)


@pytest.mark.parametrize("kind", list(ESTIMATORS))
@pytest.mark.parametrize("loss", ["log_loss", "exponential"])
def test_multiclass_classifier(digits, kind, loss):
    X, y = digits
    cls, _, params = ESTIMATORS[kind]
    _check_classifier(cls(**params, loss=loss).fit(X, y), X)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_string_labels(digits, n_classes):
    X, y = digits
    keep = y < n_classes
    labels = np.array(["zero", "one", "two"])[y[keep]]
    clf = BoostResNetClassifier(**TINY_BOOST).fit(X[keep], labels)
    outputs = _check_classifier(clf, X[keep])
    assert outputs["label"].dtype == object


@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_regressor(kind):
    X, y = load_diabetes(return_X_y=True)
    _, cls, params = ESTIMATORS[kind]
    _check_regressor(cls(**params).fit(X.astype(np.float32), y), X.astype(np.float32))


@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_multi_output_regressor(kind):
    X, y = make_friedman1(n_samples=300, random_state=0)
    Y = np.column_stack([y, 100 * X[:, 0] - 3])
    _, cls, params = ESTIMATORS[kind]
    _check_regressor(cls(**params).fit(X, Y), X.astype(np.float32))


@pytest.mark.parametrize("kind", ["boost", "e2e"])
def test_dataframe_with_categories(table, kind):
    X, y = table
    clf_cls, reg_cls, params = ESTIMATORS[kind]
    clf = clf_cls(**params, min_frequency=10).fit(X, y)
    model = clf.to_onnx()
    inputs = {i.name: i.type.tensor_type.elem_type for i in model.graph.input}
    string, float32 = onnx.TensorProto.STRING, onnx.TensorProto.FLOAT
    assert inputs == {"x": float32, "city": string, "colour": string, "count": float32}
    X_new = _table_for_prediction(X)
    feed = onnx_feed(X_new, model)
    assert feed["city"].shape == (len(X_new), 1)
    assert feed["city"][:2, 0].tolist() == ["tokyo", ""]
    assert feed["colour"][2, 0] == "" and np.isnan(feed["x"][3, 0])
    _check_classifier(clf, X_new)
    reg = reg_cls(**params, categorical_features=["city", "colour", "count"]).fit(X, y)
    _check_regressor(reg, X_new)


def test_skl2onnx_converts_the_estimator_on_a_frame(table):
    X, y = table
    X = X.assign(colour=X["colour"].astype(object))
    clf = BoostResNetClassifier(**TINY_BOOST).fit(X, y)
    register_onnx_converters()
    model = skl2onnx.to_onnx(clf, X[:1], options={id(clf): {"zipmap": False, "nocl": True}})
    outputs = _run(model, _table_for_prediction(X))
    expected = np.searchsorted(clf.classes_, clf.predict(_table_for_prediction(X)))
    np.testing.assert_array_equal(outputs["label"], expected)


def test_numeric_categories_of_an_array(table):
    X, y = table
    X = np.column_stack([X["x"], X["count"]]).astype(np.float32)
    reg = BoostResNetRegressor(**TINY_BOOST, categorical_features=[1]).fit(X, y)
    X_new = X[:20].copy()
    X_new[0, 1], X_new[1, 1] = 1000.0, np.nan
    _check_regressor(reg, X_new)


@pytest.mark.parametrize("loss", ["log_loss", "exponential"])
def test_stages_are_the_staged_scores(digits, loss):
    X, y = digits
    keep = y < 2
    for X_fit, y_fit in ((X, y), (X[keep], y[keep])):
        clf = BoostResNetClassifier(**{**TINY_BOOST, "n_estimators": 3}, loss=loss)
        clf.fit(X_fit, y_fit)
        stages = _check_classifier(clf, X_fit, stages=True)["stages"]
        n_scores = 1 if clf.n_classes_ == 2 else clf.n_classes_
        assert stages.shape == (clf.n_estimators_ + 1, len(X_fit), n_scores)
        staged = _stacked(clf.staged_decision_function(X_fit), len(X_fit))
        np.testing.assert_allclose(stages[1:], staged, **TOLERANCE)
        np.testing.assert_allclose(stages[-1], staged[-1], **TOLERANCE)


def test_regressor_stages():
    X, y = load_diabetes(return_X_y=True)
    X = X.astype(np.float32)
    reg = BoostResNetRegressor(**TINY_BOOST).fit(X, y)
    stages = _run(reg.to_onnx(stages=True), X)["stages"]
    np.testing.assert_allclose(stages[1:], _stacked(reg.staged_predict(X), len(X)), **TOLERANCE)


def test_pipeline_with_column_transformer(table):
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = table
    X = X.assign(x=X["x"].fillna(0.0), colour=X["colour"].astype(object).fillna("none"))
    clf = BoostResNetClassifier(**TINY_BOOST)
    pipe = Pipeline(
        [
            (
                "columns",
                ColumnTransformer(
                    [
                        ("numbers", StandardScaler(), ["x", "count"]),
                        ("text", OneHotEncoder(sparse_output=False), ["city", "colour"]),
                    ]
                ),
            ),
            ("model", clf),
        ]
    ).fit(X, y)
    register_onnx_converters()
    model = skl2onnx.to_onnx(pipe, X[:1], options={id(clf): {"zipmap": False}})
    outputs = _run(model, X)
    np.testing.assert_array_equal(outputs["label"], pipe.predict(X))
    np.testing.assert_allclose(outputs["probabilities"], pipe.predict_proba(X), **TOLERANCE)
    # skl2onnx's default for a classifier: a ZipMap of the probabilities.
    zipped = _run(skl2onnx.to_onnx(pipe, X[:1]), X)
    assert list(zipped) == ["output_label", "output_probability"]
    assert zipped["output_probability"][0] == pytest.approx(
        dict(enumerate(pipe.predict_proba(X[:1])[0])), abs=1e-5
    )


def test_pipeline_of_a_regressor():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = make_friedman1(n_samples=200, random_state=0)
    pipe = make_pipeline(StandardScaler(), BoostResNetRegressor(**TINY_BOOST)).fit(X, y)
    register_onnx_converters()
    model = skl2onnx.to_onnx(pipe, X[:1].astype(np.float32))
    variable = _run(model, X.astype(np.float32))["variable"]
    np.testing.assert_allclose(variable[:, 0], pipe.predict(X.astype(np.float32)), **TOLERANCE)


def test_file_runs_without_torch(breast_cancer, tmp_path):
    X, y = breast_cancer
    clf = BoostResNetClassifier(**TINY_BOOST).fit(X, y)
    path = tmp_path / "model.onnx"
    assert clf.to_onnx(path) is not None
    np.save(tmp_path / "X.npy", X)
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["torch"] = None
        import numpy as np
        import onnxruntime
        session = onnxruntime.InferenceSession({str(path)!r}, providers=["CPUExecutionProvider"])
        label, proba = session.run(None, {{"X": np.load({str(tmp_path / "X.npy")!r})}})
        np.save({str(tmp_path / "proba.npy")!r}, proba)
        np.save({str(tmp_path / "label.npy")!r}, label)
        assert "torch" not in sys.modules or sys.modules["torch"] is None
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    np.testing.assert_allclose(np.load(tmp_path / "proba.npy"), clf.predict_proba(X), **TOLERANCE)
    np.testing.assert_array_equal(np.load(tmp_path / "label.npy"), clf.predict(X))


@pytest.mark.parametrize("cls", [BoostResNetClassifier, BoostResNetRegressor,
                                 ResNetClassifier, ResNetRegressor])  # fmt: skip
def test_unfitted_estimator_is_refused(cls):
    with pytest.raises(NotFittedError):
        cls().to_onnx()


def test_custom_block_is_refused(breast_cancer):
    X, y = breast_cancer

    def block(width):
        return torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.Tanh())

    clf = BoostResNetClassifier(**TINY_BOOST, block=block).fit(X, y)
    with pytest.raises(ValueError, match="MLPBlock blocks"):
        clf.to_onnx()
    # A callable that builds MLPBlocks gives an exportable network.
    clf.set_params(block=lambda width: MLPBlock(width, 4)).fit(X, y)
    _check_classifier(clf, X)


def test_low_opset_is_refused(breast_cancer):
    X, y = breast_cancer
    clf = BoostResNetClassifier(**TINY_BOOST).fit(X, y)
    with pytest.raises(ValueError, match="target_opset >= 17"):
        clf.to_onnx(target_opset=15)


def test_import_needs_no_onnx():
    script = (
        "import sys\n"
        "for name in ('onnx', 'onnxruntime', 'skl2onnx'):\n"
        "    sys.modules[name] = None\n"
        "import sklearn_resboost\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def test_missing_dependency_names_the_extra(breast_cancer, monkeypatch):
    X, y = breast_cancer
    clf = BoostResNetClassifier(**TINY_BOOST).fit(X, y)
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    with pytest.raises(ImportError, match=r"sklearn-resboost\[onnx\]"):
        clf.to_onnx()
    with pytest.raises(ImportError, match=r"sklearn-resboost\[onnx\]"):
        register_onnx_converters()
