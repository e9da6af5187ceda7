"""The piecewise-linear encoding of numeric features (``numeric_bins``)."""

import io
import pickle

import numpy as np
import pytest
import torch
from _params import TINY_BOOST, TINY_E2E, tiny_estimators
from sklearn.utils._param_validation import InvalidParameterError
from test_persistence import _read, _write

from sklearn_resboost import (
    BoostResNetClassifier,
    BoostResNetRegressor,
    ResNetClassifier,
    ResNetRegressor,
    Stem,
    load,
    onnx_feed,
)
from sklearn_resboost._trainer import weight_matrices
from sklearn_resboost._validation import ple_edges

pd = pytest.importorskip("pandas")

ESTIMATORS = tiny_estimators()
BINS = 8


def _table(n=200, seed=0):
    """A frame with a threshold-like feature, a discrete one, NaN and text, and its signal."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "size": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], size=n).astype(object),
            "count": rng.integers(0, 3, size=n).astype(float),
        }
    )
    frame.loc[rng.random(n) < 0.15, "size"] = np.nan
    frame.loc[rng.random(n) < 0.1, "colour"] = None
    signal = (frame["size"].fillna(0.0) > 0.5) + (frame["colour"] == "red") + frame["count"]
    return frame, signal.to_numpy(dtype=float)


def _target(make, signal):
    return (signal > np.median(signal)).astype(int) if "Classifier" in make.__name__ else signal


def _fit(make, params, **extra):
    X, signal = _table()
    return make(**params, numeric_bins=BINS, **extra).fit(X, _target(make, signal)), X


def _hand_built_stem():
    """Feature 0 has 3 bins, feature 1 one bin (of 3), feature 2 is categorical."""
    torch.manual_seed(0)
    stem = Stem(3, 4, cardinalities=[0, 0, 2], numeric_bins=3)
    edges = [[-1.0, 0.0, 1.0, 3.0], [0.0, 2.0], []]
    stem.set_normalisation([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.5, 0.5], edges=edges)
    return stem


def test_the_encoding_of_a_hand_built_stem():
    stem = _hand_built_stem()
    x = torch.tensor(
        [
            [0.0, 4.0, 0.0],  # at an edge; beyond the single bin
            [-3.0, -2.0, 1.0],  # below the first edge
            [5.0, 1.0, 1.0],  # above the last edge
            [np.nan, np.nan, 0.0],  # missing: encoded as the mean, z = 0
        ]
    )
    encoding = stem.encoding(x)
    assert encoding.shape == (4, 3, 3)
    expected = torch.tensor(
        [
            [[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
            [[-2.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
            [[1.0, 1.0, 2.0], [0.5, 0.0, 0.0], [0.0, 0.0, 0.0]],
            [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
        ]
    )
    torch.testing.assert_close(encoding, expected, rtol=0, atol=0)
    np.testing.assert_array_equal(stem.ple_mask.numpy(), [[1, 1, 1], [1, 0, 0], [0, 0, 0]])


def test_the_stem_adds_the_encoding_to_what_it_computed_before():
    stem = _hand_built_stem()
    torch.manual_seed(0)
    plain = Stem(3, 4, cardinalities=[0, 0, 2])
    plain.set_normalisation([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.5, 0.5])
    # The vectors of the bins are drawn last: the other parameters are the same.
    for name, tensor in plain.state_dict().items():
        torch.testing.assert_close(stem.state_dict()[name], tensor, rtol=0, atol=0)
    assert stem.ple.shape == (3, 3, 4)
    bound = 1.0 / (3 * 3) ** 0.5
    assert stem.ple.abs().max() <= bound
    x = torch.tensor([[0.5, 1.0, 1.0], [np.nan, -4.0, 0.0], [20.0, np.nan, 1.0]])
    added = stem.encoding(x).flatten(1) @ stem.ple.flatten(0, 1)
    torch.testing.assert_close(stem(x), plain(x) + added)


def test_the_input_noise_enters_the_encoding():
    stem = _hand_built_stem()
    stem.noise = 0.5
    with torch.no_grad():
        # Only the encoding can make equal rows differ.
        stem.linear.weight.zero_()
    x = torch.tensor([[0.5, 1.0, 1.0]] * 64)
    stem.train()
    noisy = stem(x)
    stem.eval()
    assert not torch.allclose(noisy, stem(x).expand_as(noisy))
    torch.testing.assert_close(stem(x)[1:], stem(x)[:-1])


def test_the_defaults():
    assert BoostResNetClassifier().numeric_bins == BoostResNetRegressor().numeric_bins == 16
    assert ResNetClassifier().numeric_bins is ResNetRegressor().numeric_bins is None


def test_none_is_the_stem_without_encoding():
    # tests/test_golden.py checks that None fits bit for bit as before the encoding.
    X, signal = _table()
    y = _target(BoostResNetClassifier, signal)
    plain = BoostResNetClassifier(**TINY_BOOST, numeric_bins=None).fit(X, y)
    assert not any(name.startswith("ple") for name in plain.module_.stem.state_dict())
    assert plain.module_.stem.numeric_bins is None
    default = ResNetClassifier(**TINY_E2E).fit(X, y)
    assert default.module_.stem.numeric_bins is None


@pytest.mark.parametrize("make, params", ESTIMATORS)
def test_estimators_fit_and_predict_a_frame(make, params):
    model, X = _fit(make, params)
    stem = model.module_.stem
    assert stem.numeric_bins == BINS
    assert stem.ple.shape == (3, BINS, TINY_BOOST["width"])
    # size: all its bins; colour (categorical): none; count: 0, 1 and 2 give two bins.
    np.testing.assert_array_equal(stem.ple_mask.sum(dim=1).numpy(), [BINS, 0, 2])
    predictions = model.predict(X)
    assert predictions.shape == (len(X),)
    if "Classifier" in make.__name__:
        assert np.isfinite(model.predict_proba(X)).all()
    else:
        assert np.isfinite(predictions).all()


@pytest.mark.parametrize("make", [BoostResNetClassifier, BoostResNetRegressor])
def test_decompositions_stay_exact(make):
    model, X = _fit(make, TINY_BOOST)
    scores = model.decision_function(X) if hasattr(model, "decision_function") else (
        model.predict(X)
    )
    for parts in (model.hypothesis_ensemble(X), model.feature_ensemble(X)):
        np.testing.assert_allclose(parts.sum(axis=0).ravel(), scores, atol=1e-5)


def test_edges_are_weighted_quantiles_of_the_standardised_values():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.exponential(size=300), np.full(300, 2.0), rng.integers(0, 3, 300)])
    X[:10, 0] = np.nan
    weight = rng.uniform(0.1, 1.0, size=300)
    center, scale = np.array([1.0, 2.0, 0.0]), np.array([0.5, 1.0, 1.0])
    edges = ple_edges(X, weight, [0, 0, 3], center, scale, 4)
    observed = ~np.isnan(X[:, 0])
    z = (X[observed, 0] - center[0]) / scale[0]
    expected = np.quantile(
        z, np.linspace(0, 1, 5), weights=weight[observed], method="inverted_cdf"
    )
    np.testing.assert_allclose(edges[0], expected, rtol=1e-6)
    # A constant feature has no bins, nor has a categorical one.
    assert len(edges[1]) == 1 and len(edges[2]) == 0


def test_sample_weight_moves_the_edges():
    X, signal = _table()
    y = _target(BoostResNetRegressor, signal)
    weight = np.where(X["size"].fillna(0.0) > 0, 10.0, 1.0)
    plain = BoostResNetRegressor(**TINY_BOOST, numeric_bins=BINS).fit(X, y)
    weighted = BoostResNetRegressor(**TINY_BOOST, numeric_bins=BINS).fit(X, y, weight)
    # In the units of X (the standardisation moves too), the inner edges of
    # size move towards its heavier positive values; the smallest value stays.
    edges = [
        model.module_.stem.ple_left[0] * model.module_.stem.scale[0]
        + model.module_.stem.center[0]
        for model in (plain, weighted)
    ]
    torch.testing.assert_close(edges[1][0], edges[0][0])
    assert (edges[1][1:] >= edges[0][1:] - 1e-5).all() and (edges[1][1:] > edges[0][1:]).any()


def test_the_vectors_of_the_bins_take_no_weight_decay():
    stem = _hand_built_stem()
    decayed = weight_matrices([stem])
    assert id(stem.ple) not in decayed and id(stem.linear.weight) in decayed


@pytest.mark.parametrize("make, params", [ESTIMATORS[0], ESTIMATORS[3]])
def test_pickle_and_save_round_trips_are_exact(make, params):
    model, X = _fit(make, params)
    expected = model._raw_scores(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model))._raw_scores(X), expected)
    buffer = io.BytesIO()
    model.save(buffer)
    loaded = load(io.BytesIO(buffer.getvalue()))
    assert loaded.numeric_bins == BINS and loaded.module_.stem.numeric_bins == BINS
    np.testing.assert_array_equal(loaded._raw_scores(X), expected)


def test_a_file_written_before_numeric_bins_loads(tmp_path):
    # Such a file was fitted without the encoding, whatever today's default.
    X, signal = _table()
    y = _target(BoostResNetClassifier, signal)
    model = BoostResNetClassifier(**TINY_BOOST, numeric_bins=None).fit(X, y)
    path = tmp_path / "old.safetensors"
    model.save(path)
    document, tensors = _read(path)
    assert document["network"]["numeric_bins"] is None
    del document["network"]["numeric_bins"]
    del document["params"]["numeric_bins"]
    _write(path, document, tensors)
    loaded = load(path)
    assert loaded.numeric_bins is None
    np.testing.assert_array_equal(loaded._raw_scores(X), model._raw_scores(X))


def test_a_file_whose_bins_do_not_match_is_refused(tmp_path):
    model, _ = _fit(BoostResNetClassifier, TINY_BOOST)
    path = tmp_path / "forged.safetensors"
    model.save(path)
    document, tensors = _read(path)
    document["network"]["numeric_bins"] = BINS // 2
    _write(path, document, tensors)
    with pytest.raises(ValueError, match="module.stem.ple has shape"):
        load(path)
    document["network"]["numeric_bins"] = 10**9
    _write(path, document, tensors)
    with pytest.raises(ValueError, match="network.numeric_bins is 1000000000"):
        load(path)


def test_pickles_written_before_numeric_bins_load():
    X, signal = _table()
    y = _target(BoostResNetClassifier, signal)
    model = BoostResNetClassifier(**TINY_BOOST, numeric_bins=None).fit(X, y)
    state = model.__getstate__()
    del state["numeric_bins"]
    restored = BoostResNetClassifier.__new__(BoostResNetClassifier)
    restored.__setstate__(state)
    assert restored.numeric_bins is None
    np.testing.assert_array_equal(restored._raw_scores(X), model._raw_scores(X))
    stem = Stem(3, 4)
    stem_state = dict(stem.__dict__)
    del stem_state["numeric_bins"]
    old = Stem.__new__(Stem)
    old.__setstate__(stem_state)
    assert old.numeric_bins is None
    x = torch.tensor([[1.0, np.nan, 2.0]])
    torch.testing.assert_close(old(x), stem(x))


@pytest.mark.parametrize("make, params", [ESTIMATORS[0], ESTIMATORS[3]])
def test_onnx_matches_predict(make, params):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("skl2onnx")
    model, X = _fit(make, params)
    X_new = X.head(40).copy()
    # Beyond the training range on both sides, at an edge, missing.
    X_new.loc[X_new.index[0], "size"] = 50.0
    X_new.loc[X_new.index[1], "size"] = -50.0
    X_new.loc[X_new.index[2], "count"] = 7.0
    X_new.loc[X_new.index[3], "size"] = np.nan
    graph = model.to_onnx()
    onnx.checker.check_model(graph, full_check=True)
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = session.run(None, onnx_feed(X_new, session))
    expected = model.predict_proba(X_new) if hasattr(model, "predict_proba") else (
        model.predict(X_new).reshape(-1, 1)
    )
    np.testing.assert_allclose(outputs[-1], expected, rtol=1e-5, atol=1e-5)


def test_to_skorch_takes_the_encoding_along():
    model, X = _fit(BoostResNetClassifier, TINY_BOOST)
    net = model.to_skorch()
    np.testing.assert_allclose(
        net.predict_proba(model.encode_inputs(X)), model.predict_proba(X), atol=1e-6
    )


@pytest.mark.parametrize("fitted, changed", [(BINS, 4), (BINS, None), (None, BINS)])
def test_warm_start_refuses_a_changed_numeric_bins(fitted, changed):
    X, signal = _table()
    model = BoostResNetRegressor(**TINY_BOOST, numeric_bins=fitted, warm_start=True).fit(X, signal)
    model.set_params(numeric_bins=changed, n_estimators=TINY_BOOST["n_estimators"] + 1)
    with pytest.raises(ValueError, match=rf"numeric_bins={changed!r} \(fitted with {fitted!r}\)"):
        model.fit(X, signal)


def test_warm_start_keeps_the_edges():
    X, signal = _table()
    model = BoostResNetRegressor(**TINY_BOOST, numeric_bins=BINS, warm_start=True).fit(X, signal)
    left = model.module_.stem.ple_left.clone()
    model.set_params(n_estimators=TINY_BOOST["n_estimators"] + 1).fit(X.iloc[::-2], signal[::-2])
    assert torch.equal(model.module_.stem.ple_left, left)


def test_conv_networks_ignore_numeric_bins(tmp_path):
    X = np.random.default_rng(0).normal(size=(40, 4))
    y = (X[:, 0] > 0).astype(int)
    clf = BoostResNetClassifier(**TINY_BOOST, block="conv", image_shape=(2, 2), numeric_bins=BINS)
    clf.fit(X, y)
    assert not hasattr(clf.module_.stem, "ple")
    path = tmp_path / "conv.safetensors"
    clf.save(path)
    np.testing.assert_array_equal(load(path).predict_proba(X), clf.predict_proba(X))
    clf.set_params(warm_start=True, n_estimators=TINY_BOOST["n_estimators"] + 1).fit(X, y)


@pytest.mark.parametrize("value", [0, 1, 257, 2.5, "16"])
@pytest.mark.parametrize("make", [BoostResNetClassifier, ResNetRegressor])
def test_invalid_values_are_refused(make, value):
    X, signal = _table(60)
    with pytest.raises(InvalidParameterError, match="The 'numeric_bins' parameter of"):
        make(numeric_bins=value).fit(X, _target(make, signal))
