"""Convolutional networks: block="conv" with image_shape, on tiny images."""

import io
import itertools
import json
import pickle

import numpy as np
import pytest
import safetensors.numpy
import torch
from _params import TINY_BOOST, TINY_E2E

from sklearn_resboost import (
    BoostResNetClassifier,
    BoostResNetRegressor,
    ConvBlock,
    ConvHead,
    ConvStem,
    FlattenHead,
    ResNet,
    ResNetClassifier,
    ResNetRegressor,
    _persistence,
    load,
    onnx_feed,
)
from sklearn_resboost._modules import carried_head, network_bytes
from sklearn_resboost.inspection import gradient_by_path_length, lesion_study, reorder_study
from sklearn_resboost.inspection._network import PathGradients

CONV = dict(block="conv", image_shape=(2, 4, 3), width=4, hidden_size=4)


def images(n=120, seed=0):
    """Rows of 2 x 4 x 3 images whose class is where the bright pixel is."""
    rng = np.random.RandomState(seed)
    X = rng.normal(scale=0.1, size=(n, 2, 4, 3))
    y = rng.randint(3, size=n)
    X[np.arange(n), 0, y, 1] += 2.0
    return X.reshape(n, -1), y


@pytest.fixture(scope="module")
def boosted():
    X, y = images()
    return BoostResNetClassifier(**{**TINY_BOOST, **CONV, "n_estimators": 3}).fit(X, y), X, y


def test_modules_keep_the_image_shape():
    stem = ConvStem((2, 4, 3), width=5)
    x = torch.randn(6, 24)
    x[0, 3] = float("nan")
    g = stem(x)
    assert g.shape == (6, 5, 4, 3) and torch.isfinite(g).all()
    assert (stem.n_features, stem.width) == (24, 5)
    assert ConvBlock(5, 7)(g).shape == g.shape
    head = ConvHead(5, 2)
    torch.testing.assert_close(head(g), g.mean(dim=(2, 3)) @ head.weight.T + head.bias)
    with pytest.raises(ValueError, match="image_shape must be"):
        ConvStem((4, 3), width=5)


def test_a_new_block_starts_as_the_identity(boosted):
    clf, X, _ = boosted
    block = clf._make_block(0)
    assert isinstance(block, ConvBlock)
    g = torch.randn(3, 4, 4, 3)
    assert torch.equal(block(g), torch.zeros_like(g))


@pytest.mark.parametrize("Estimator", [BoostResNetClassifier, ResNetClassifier])
def test_classifiers_learn_where_the_pixel_is(Estimator):
    X, y = images(300)
    params = {**TINY_BOOST, "n_estimators": 3, "epochs_per_block": 10}
    if Estimator is ResNetClassifier:
        params = {**TINY_E2E, "max_epochs": 30}
    clf = Estimator(**{**params, **CONV, "width": 8, "hidden_size": 8, "lr": 1e-2}).fit(X, y)
    assert isinstance(clf.module_.stem, ConvStem)
    assert all(isinstance(head, FlattenHead) for head in clf.module_.heads)
    assert clf.score(*images(200, seed=1)) > 0.9


@pytest.mark.parametrize("Estimator", [BoostResNetRegressor, ResNetRegressor])
def test_regressors_fit_and_predict(Estimator):
    X, y = images()
    params = TINY_BOOST if Estimator is BoostResNetRegressor else TINY_E2E
    reg = Estimator(**{**params, **CONV}).fit(X, y.astype(float))
    assert reg.predict(X).shape == (len(X),)


def test_two_dimensional_image_shape_has_one_channel():
    X, y = images()
    clf = BoostResNetClassifier(
        **{**TINY_BOOST, **CONV, "image_shape": (4, 6), "n_estimators": 1}
    ).fit(X, y)
    assert clf.module_.stem.image_shape == (1, 4, 6)


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(block="conv"), "block='conv' needs image_shape"),
        (dict(block="conv", image_shape=(5, 5)), "holds 25 pixels but X has 24 features"),
        (dict(block="conv", image_shape=(2, 0, 12)), "integers >= 1"),
        (dict(block="conv", image_shape=(24,)), r"\(H, W\) or \(C, H, W\)"),
        (dict(block="mlp", image_shape=(4, 6)), "set block='conv' or image_shape=None"),
    ],
)
@pytest.mark.parametrize("Estimator", [BoostResNetClassifier, ResNetClassifier])
def test_image_shape_is_checked(Estimator, params, message):
    X, y = images()
    base = TINY_BOOST if Estimator is BoostResNetClassifier else TINY_E2E
    with pytest.raises(ValueError, match=message):
        Estimator(**{**base, **params}).fit(X, y)


def test_categorical_features_are_refused():
    X, y = images()
    clf = BoostResNetClassifier(**{**TINY_BOOST, **CONV, "categorical_features": [0]})
    with pytest.raises(ValueError, match="numeric pixels only"):
        clf.fit(X, y)


@pytest.mark.parametrize("head_pooling", ["flatten", "average"])
def test_decompositions_are_exact(boosted, head_pooling):
    clf, X, y = boosted
    if head_pooling == "average":
        clf = BoostResNetClassifier(**{**clf.get_params(), "head_pooling": "average"}).fit(X, y)
        assert type(clf.module_.heads[-1]) is ConvHead
    scores = clf.decision_function(X)
    for parts in (clf.hypothesis_ensemble(X), clf.feature_ensemble(X)):
        assert parts.shape[0] == clf.n_estimators_ + 1
        np.testing.assert_allclose(parts.sum(axis=0), scores, rtol=1e-5, atol=1e-5)


def test_staged_methods_match_truncated_networks(boosted):
    clf, X, y = boosted
    staged = list(clf.staged_predict_proba(X))
    assert len(staged) == clf.n_estimators_
    np.testing.assert_allclose(staged[-1], clf.predict_proba(X), rtol=1e-5, atol=1e-6)
    assert len(list(clf.staged_score(X, y))) == clf.n_estimators_
    assert clf.block_edges_.shape == (clf.n_estimators_,)


def test_early_stopping_and_warm_start():
    X, y = images(300)
    params = {**TINY_BOOST, **CONV, "n_estimators": 2, "early_stopping": True}
    clf = BoostResNetClassifier(**params).fit(X, y)
    assert len(clf.validation_score_) == clf.n_estimators_ + 1
    clf.set_params(warm_start=True, n_estimators=4).fit(X, y)
    assert clf.module_.n_blocks == clf.n_estimators_ and clf._n_rounds == 4
    with pytest.raises(ValueError, match="image_shape"):
        clf.set_params(image_shape=(4, 6), n_estimators=5).fit(X, y)
    with pytest.raises(ValueError, match="head_pooling"):
        clf.set_params(image_shape=(2, 4, 3), head_pooling="average").fit(X, y)
    with pytest.raises(ValueError, match="hidden_size"):
        clf.set_params(head_pooling="flatten", hidden_size=5).fit(X, y)


def test_pickle_and_safe_format_round_trip(boosted, tmp_path):
    clf, X, _ = boosted
    expected = clf.predict_proba(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X), expected)
    path = tmp_path / "conv.safetensors"
    clf.save(path)
    loaded = load(path)
    assert isinstance(loaded.module_.blocks[0], ConvBlock)
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)
    loaded.set_params(warm_start=True, n_estimators=4).fit(X, boosted[2])
    average = BoostResNetClassifier(**{**clf.get_params(), "head_pooling": "average"})
    average.fit(X, boosted[2]).save(path)
    np.testing.assert_array_equal(load(path).predict_proba(X), average.predict_proba(X))


def _resaved(path, edit):
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    document = json.loads(json.loads(data[8 : 8 + n])["__metadata__"]["sklearn_resboost"])
    tensors = safetensors.numpy.load(data)
    edit(document, tensors)
    text = json.dumps(document, sort_keys=True)
    metadata = {
        "sklearn_resboost": text,
        "sklearn_resboost.sha256": _persistence._digest(text, tensors),
    }
    return io.BytesIO(safetensors.numpy.save(tensors, metadata=metadata))


def _wrong_kernel(document, tensors):
    tensors["module.blocks.0.conv1.weight"] = np.zeros((4, 4, 5, 5), np.float32)


def _wrong_image_shape(document, tensors):
    document["network"]["image_shape"] = [1, 4, 6]


def _other_pooling(document, tensors):
    document["network"]["head_pooling"] = "average"


def _mlp_description(document, tensors):
    for field in ("block", "image_shape", "head_pooling", "strides"):
        del document["network"][field]


def _forged_strides(document, tensors):
    document["network"]["strides"] = [1, 1, 2][: document["network"]["n_blocks"]]


def _bad_strides(document, tensors):
    document["network"]["strides"] = [3] * document["network"]["n_blocks"]


def _strides_parameter(document, tensors):
    document["params"]["strides"] = None


@pytest.mark.parametrize(
    "fitted, edit, message",
    [
        ("boosted", _wrong_kernel, r"conv1.weight has shape \(4, 4, 5, 5\)"),
        ("boosted", _wrong_image_shape, r"stem.conv.weight has shape \(4, 4, 3, 3\)"),
        ("boosted", _other_pooling, r"heads.0.weight has shape \(3, 48\)"),
        ("boosted", _mlp_description, "are missing"),
        ("downsampled", _forged_strides, "has shape"),
        ("downsampled", _bad_strides, "network.strides is not one stride"),
        ("downsampled", _strides_parameter, "strides does not match the network"),
    ],
)
def test_tampered_conv_files_are_refused(request, tmp_path, fitted, edit, message):
    path = tmp_path / "conv.safetensors"
    request.getfixturevalue(fitted)[0].save(path)
    with pytest.raises(ValueError, match=message):
        load(_resaved(path, edit))


def test_to_skorch_trains_the_conv_network(boosted):
    clf, X, y = boosted
    net = clf.to_skorch(max_epochs=1)
    net.fit(clf.encode_inputs(X), y)
    assert net.predict(clf.encode_inputs(X)).shape == (len(X),)


def test_inspection_studies_run(boosted):
    clf, X, y = boosted
    result = lesion_study(clf, X, y, n_repeats=2, random_state=0)
    assert result.single_scores.shape == (clf.n_estimators_,)
    assert reorder_study(clf, X, y, n_repeats=2, random_state=0).scores.shape[1] == 2
    result = gradient_by_path_length(clf, X, y, n_samples=4, random_state=0)
    assert np.all(np.isfinite(result.gradient_norms))


def _onnx_outputs(estimator, X, stages=False):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("skl2onnx")
    model = estimator.to_onnx(stages=stages)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, onnx_feed(X, session))))


@pytest.mark.parametrize("head_pooling", ["flatten", "average"])
def test_onnx_export_predicts_what_predict_does(boosted, head_pooling):
    clf, X, y = boosted
    clf = BoostResNetClassifier(**{**clf.get_params(), "head_pooling": head_pooling}).fit(X, y)
    X = X.copy()
    X[0, 5] = np.nan
    outputs = _onnx_outputs(clf, X, stages=True)
    np.testing.assert_allclose(outputs["probabilities"], clf.predict_proba(X), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(outputs["label"], clf.predict(X))
    staged = np.stack(list(clf.staged_decision_function(X)))
    np.testing.assert_allclose(outputs["stages"][1:], staged, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("skip", [True, False])
def test_onnx_export_of_end_to_end_conv_regressors(skip):
    X, y = images()
    reg = ResNetRegressor(**{**TINY_E2E, **CONV, "skip": skip}).fit(X, y.astype(float))
    outputs = _onnx_outputs(reg, X)
    np.testing.assert_allclose(
        next(iter(outputs.values())).ravel(), reg.predict(X), rtol=1e-5, atol=1e-5
    )


def test_memory_estimate_counts_every_pixel():
    mlp = network_bytes(24, 4, 4, 3, 3, 32)
    conv = network_bytes(24, 4, 4, 3, 3, 32, image_shape=(2, 4, 3))
    assert conv > mlp
    assert network_bytes(24, 4, 4, 3, 3, 32, 1, image_shape=(2, 4, 3)) < conv


@pytest.mark.parametrize("head", [lambda: ConvHead(4, 2), lambda: FlattenHead(36, 2)])
def test_a_hand_built_network_decomposes(head):
    torch.manual_seed(0)
    net = ResNet(ConvStem((1, 3, 3), 4), n_outputs=2, learning_rate=0.5)
    for _ in range(2):
        net.blocks.append(ConvBlock(4, 4))
    net.heads.extend([head() for _ in range(3)])
    x = torch.randn(5, 9)
    with torch.no_grad():
        parts = net.contributions(x, "feature")
        np.testing.assert_allclose(parts.sum(axis=0), net(x).numpy(), rtol=1e-5, atol=1e-6)


def test_fine_tuning_trains_the_whole_conv_network():
    X, y = images()
    clf = BoostResNetClassifier(**{**TINY_BOOST, **CONV, "fine_tune_epochs": 2}).fit(X, y)
    assert len(clf.fine_tune_history_) == 2
    np.testing.assert_allclose(
        clf.feature_ensemble(X).sum(axis=0), clf.decision_function(X), rtol=1e-5, atol=1e-5
    )


# -- downsampling blocks (strides) ----------------------------------------------

# Average pooling: a downsampling round starts from its carried head at z_t on
# the even height, close to it on the odd width, so that its round is kept.
DOWN = {**CONV, "strides": (1, 2, 2), "head_pooling": "average"}


@pytest.fixture(scope="module")
def downsampled():
    X, y = images(150)
    params = {**TINY_BOOST, **DOWN, "n_estimators": 3, "early_stopping": False}
    return BoostResNetClassifier(**params).fit(X, y), X, y


def test_a_downsampling_block_halves_the_image_and_doubles_the_channels():
    g = torch.randn(3, 4, 5, 3)
    block = ConvBlock(4, 6, stride=2)
    assert block(g).shape == block.shortcut(g).shape == (3, 8, 3, 2)
    skip = block.shortcut(g)
    # A window cut by the odd border averages the pixels it holds.
    torch.testing.assert_close(skip[:, :4, 2, 1], g[:, :, 4, 2])
    torch.testing.assert_close(skip[:, :4, 0, 0], g[:, :, :2, :2].mean(dim=(2, 3)))
    assert torch.all(skip[:, 4:] == 0)
    assert ConvBlock(4, 6).shortcut(g) is g
    with pytest.raises(ValueError, match="stride must be 1 or 2"):
        ConvBlock(4, 6, stride=3)


@pytest.mark.parametrize("head_type", [ConvHead, FlattenHead])
def test_a_carried_head_reads_the_shortcut_as_the_old_head_read_g(head_type):
    torch.manual_seed(0)
    block = ConvBlock(3, 4, stride=2)
    # Constant on each 2x2 window: exact for both heads.
    g = torch.randn(5, 3, 2, 3).repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    head = head_type(3 if head_type is ConvHead else 3 * 4 * 6, 2)
    carried = carried_head(head, block, (3, 4, 6))
    assert type(carried) is head_type
    torch.testing.assert_close(carried(block.shortcut(g)), head(g))
    assert carried_head(head, ConvBlock(3, 4), (3, 4, 6)) is not head


@pytest.mark.parametrize("Estimator", [BoostResNetClassifier, ResNetClassifier])
@pytest.mark.parametrize("head_pooling", ["flatten", "average"])
@pytest.mark.parametrize("strides", [None, (2,), (1, 2, 2)])
def test_decompositions_stay_exact_with_downsampling(Estimator, head_pooling, strides):
    X, y = images(150)
    params = TINY_BOOST if Estimator is BoostResNetClassifier else TINY_E2E
    extra = {"n_estimators": 3, "early_stopping": False} if Estimator is BoostResNetClassifier else {
        "n_blocks": 3
    }
    clf = Estimator(
        **{**params, **CONV, **extra, "strides": strides, "head_pooling": head_pooling}
    ).fit(X, y)
    strides_kept = [block.stride for block in clf.module_.blocks]
    assert strides_kept == list(strides or ())[: len(strides_kept)] + [1] * (
        len(strides_kept) - len(strides or ())
    )
    scores = clf.decision_function(X)
    if Estimator is BoostResNetClassifier:
        staged = list(clf.staged_decision_function(X))
        np.testing.assert_allclose(staged[-1], scores, rtol=1e-5, atol=1e-6)
        for parts in (clf.hypothesis_ensemble(X), clf.feature_ensemble(X)):
            np.testing.assert_allclose(parts.sum(axis=0), scores, rtol=1e-5, atol=1e-5)
    else:
        with torch.no_grad():
            x = torch.as_tensor(X, dtype=torch.float32)
            parts = clf.module_.contributions(x, "feature")
        np.testing.assert_allclose(parts.sum(axis=0), scores, rtol=1e-5, atol=1e-5)


def test_downsampling_networks_round_trip(downsampled, tmp_path):
    clf, X, y = downsampled
    assert [block.stride for block in clf.module_.blocks] == [1, 2, 2][: clf.module_.n_blocks]
    assert clf.module_.n_blocks >= 2
    expected = clf.predict_proba(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X), expected)
    path = tmp_path / "down.safetensors"
    clf.save(path)
    np.testing.assert_array_equal(load(path).predict_proba(X), expected)
    net = clf.to_skorch(max_epochs=1)
    net.fit(clf.encode_inputs(X), y)


def test_a_conv_file_without_strides_loads(boosted, tmp_path):
    clf, X, _ = boosted
    path = tmp_path / "conv.safetensors"
    clf.save(path)

    def written_before_strides(document, tensors):
        del document["network"]["strides"]
        del document["params"]["strides"]

    loaded = load(_resaved(path, written_before_strides))
    assert all(block.stride == 1 for block in loaded.module_.blocks)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_a_block_pickled_before_strides_keeps_the_resolution():
    block = ConvBlock(4, 4)
    state = block.__dict__.copy()
    del state["stride"]
    old = ConvBlock.__new__(ConvBlock)
    old.__setstate__(state)
    g = torch.randn(2, 4, 3, 3)
    assert old.stride == 1 and old.shortcut(g) is g


@pytest.mark.parametrize("head_pooling", ["flatten", "average"])
def test_onnx_export_of_downsampling_networks(head_pooling):
    X, y = images(150)
    params = {**TINY_BOOST, **DOWN, "n_estimators": 3, "early_stopping": False}
    clf = BoostResNetClassifier(**{**params, "head_pooling": head_pooling}).fit(X, y)
    outputs = _onnx_outputs(clf, X, stages=True)
    np.testing.assert_allclose(outputs["probabilities"], clf.predict_proba(X), rtol=1e-5, atol=1e-5)
    staged = np.stack(list(clf.staged_decision_function(X)))
    np.testing.assert_allclose(outputs["stages"][1:], staged, rtol=1e-5, atol=1e-5)
    for skip in (True, False):
        reg = ResNetRegressor(**{**TINY_E2E, **DOWN, "n_blocks": 3, "skip": skip})
        reg.fit(X, y.astype(float))
        outputs = _onnx_outputs(reg, X)
        np.testing.assert_allclose(
            next(iter(outputs.values())).ravel(), reg.predict(X), rtol=1e-5, atol=1e-5
        )


def test_lesion_of_a_downsampling_block_keeps_its_shortcut(downsampled):
    clf, X, y = downsampled
    net = clf.module_
    result = lesion_study(clf, X, y, n_repeats=2, random_state=0)
    x = torch.as_tensor(X, dtype=torch.float32)
    with torch.no_grad():
        g = net.stem(x)
        for k in range(net.n_blocks):
            g = net.blocks[k].shortcut(g) if k == 1 else net.step(k, g)
        scores = net.scores(net.heads[-1], g)
    labels = clf.classes_[scores.argmax(dim=1).numpy()]
    assert result.single_scores[1] == pytest.approx(np.mean(labels == y))
    with pytest.raises(ValueError, match="downsample"):
        reorder_study(clf, X, y, n_repeats=2, random_state=0)


def test_path_gradients_go_through_the_shortcuts(downsampled):
    clf, X, y = downsampled
    net = clf.module_
    x = torch.as_tensor(X[:6], dtype=torch.float32)
    targets = torch.as_tensor(np.searchsorted(clf.classes_, y[:6]))
    gradients = PathGradients(clf, net, x, targets)
    g0 = net.stem(x).detach().requires_grad_(True)
    g = g0
    for k in range(net.n_blocks):
        g = net.step(k, g)
    loss = torch.nn.functional.cross_entropy(net.scores(net.heads[-1], g), targets, reduction="sum")
    (expected,) = torch.autograd.grad(loss, g0)
    torch.testing.assert_close(gradients.full(), expected, rtol=1e-4, atol=1e-6)
    # The paths of every length sum to the full gradient.
    paths = sum(
        gradients.path(blocks)
        for n in range(net.n_blocks + 1)
        for blocks in itertools.combinations(range(net.n_blocks), n)
    )
    torch.testing.assert_close(paths, expected, rtol=1e-4, atol=1e-6)
    result = gradient_by_path_length(clf, X, y, n_samples=4, random_state=0)
    assert np.all(np.isfinite(result.gradient_norms))


def test_warm_start_keeps_the_fitted_strides(downsampled):
    clf, X, y = downsampled
    clf = pickle.loads(pickle.dumps(clf))
    n_blocks = clf.module_.n_blocks
    with pytest.raises(ValueError, match="strides"):
        clf.set_params(warm_start=True, n_estimators=5, strides=None).fit(X, y)
    # Strides of the blocks still to come may change.
    clf.set_params(strides=(1, 2, 2, 1, 2)).fit(X, y)
    assert clf.module_.n_blocks >= n_blocks


@pytest.mark.parametrize(
    "params, message",
    [
        ({"block": "mlp", "image_shape": None, "strides": (2,)}, "set block='conv'"),
        ({"strides": (1, 3)}, "strides must be a sequence of 1 and 2"),
        ({"strides": (True,)}, "strides must be a sequence of 1 and 2"),
    ],
)
def test_strides_are_checked(params, message):
    X, y = images()
    with pytest.raises(ValueError, match=message):
        BoostResNetClassifier(**{**TINY_BOOST, **CONV, **params}).fit(X, y)


def test_memory_estimate_follows_the_stages():
    sizes = dict(n_features=24, width=4, hidden_size=4, n_blocks=3, n_outputs=3, batch_size=64)
    flat = network_bytes(**sizes, image_shape=(2, 4, 3))
    assert network_bytes(**sizes, image_shape=(2, 4, 3), strides=(1, 1, 1)) == flat
    # Fewer pixels after the first block: fewer activations to keep.
    assert network_bytes(**sizes, image_shape=(2, 4, 3), strides=(2, 1, 1)) != flat
