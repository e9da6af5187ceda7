"""Tests of persistence: pickling across devices and the safe file format."""

import copy
import errno
import io
import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from unittest import mock

import joblib
import numpy as np
import pytest
import safetensors.numpy
import torch
from _params import TINY_BOOST, TINY_E2E
from sklearn.datasets import load_iris, make_friedman1
from sklearn.exceptions import NotFittedError

import sklearn_resboost
from sklearn_resboost import (
    BoostResNetClassifier,
    BoostResNetRegressor,
    DeviceWarning,
    ResNetClassifier,
    ResNetRegressor,
    _persistence,
    load,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def _iris():
    X, y = load_iris(return_X_y=True)
    return X, np.array(["setosa", "versicolor", "virginica"])[y]


def _friedman(n_outputs=1):
    X, y = make_friedman1(n_samples=120, random_state=0)
    return X, (y if n_outputs == 1 else np.column_stack([y, -3 * y + 1]))


CASES = {
    "boost-clf": lambda: (
        BoostResNetClassifier(**TINY_BOOST, fine_tune_epochs=2, class_weight={"setosa": 2.0}),
        *_iris(),
    ),
    "boost-clf-binary": lambda: (
        BoostResNetClassifier(
            **{**TINY_BOOST, "random_state": np.random.RandomState(3)}, early_stopping=True
        ),
        load_iris(return_X_y=True)[0][:100],
        load_iris(return_X_y=True)[1][:100],
    ),
    "boost-reg": lambda: (BoostResNetRegressor(**TINY_BOOST, loss="huber"), *_friedman(2)),
    "e2e-clf": lambda: (
        ResNetClassifier(**TINY_E2E, class_weight={0: 1.0, 2: 3.0}, early_stopping=True),
        *load_iris(return_X_y=True),
    ),
    "e2e-reg": lambda: (
        ResNetRegressor(**TINY_E2E, skip=False, loss="absolute_error"), *_friedman()
    ),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def fitted(request):
    estimator, X, y = CASES[request.param]()
    return estimator.fit(X, y), X, y


def _outputs(estimator, X):
    names = ("predict", "predict_proba", "decision_function")
    return {name: getattr(estimator, name)(X) for name in names if hasattr(estimator, name)}


def _assert_same_outputs(first, second, X):
    a, b = _outputs(first, X), _outputs(second, X)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def _assert_same_state(first, second):
    assert first.get_params().keys() == second.get_params().keys()
    for name, value in first.get_params().items():
        if isinstance(value, np.random.RandomState):
            np.testing.assert_equal(value.get_state(), second.get_params()[name].get_state())
        else:
            assert second.get_params()[name] == value, name
    fitted = {k for k in vars(first) if k.endswith("_") or k.startswith("_")}
    assert fitted == {k for k in vars(second) if k.endswith("_") or k.startswith("_")}
    for name in fitted - {"module_", "_loss", "_rng"}:
        np.testing.assert_equal(getattr(second, name), getattr(first, name), err_msg=name)
    assert type(first._loss) is type(second._loss)
    np.testing.assert_equal(vars(second._loss), vars(first._loss))
    for (k1, v1), (k2, v2) in zip(
        first.module_.state_dict().items(), second.module_.state_dict().items()
    ):
        assert k1 == k2
        assert torch.equal(v1, v2), k1


# -- pickle and joblib ------------------------------------------------------------


def test_pickle_round_trip(fitted):
    estimator, X, _ = fitted
    restored = pickle.loads(pickle.dumps(estimator))
    _assert_same_outputs(estimator, restored, X)


def test_joblib_round_trip(fitted, tmp_path):
    estimator, X, _ = fitted
    joblib.dump(estimator, tmp_path / "model.joblib")
    _assert_same_outputs(estimator, joblib.load(tmp_path / "model.joblib"), X)


def _as_if_fitted_on_cuda(estimator):
    # The network is on the CPU, but the state says CUDA: unpickling must map
    # it to the CPU on a machine without CUDA, as skorch's tests do.
    faked = copy.deepcopy(estimator)
    faked.device_ = torch.device("cuda:0")
    return faked


def test_cuda_model_unpickles_on_cpu_only_machine(fitted):
    estimator, X, _ = fitted
    data = pickle.dumps(_as_if_fitted_on_cuda(estimator))
    with (
        mock.patch("torch.cuda.is_available", return_value=False),
        pytest.warns(DeviceWarning, match="moved to the CPU"),
    ):
        restored = pickle.loads(data)
    assert restored.device_ == torch.device("cpu")
    assert next(restored.module_.parameters()).device.type == "cpu"
    _assert_same_outputs(estimator, restored, X)


def test_cuda_model_loads_on_cpu_only_machine(fitted, tmp_path):
    estimator, X, _ = fitted
    path = tmp_path / "model.safetensors"
    _as_if_fitted_on_cuda(estimator).save(path)
    with (
        mock.patch("torch.cuda.is_available", return_value=False),
        pytest.warns(DeviceWarning, match="moved to the CPU"),
    ):
        restored = load(path)
    assert restored.device_ == torch.device("cpu")
    _assert_same_outputs(estimator, restored, X)


def test_model_from_a_missing_gpu_index_goes_to_the_cpu(tmp_path):
    X, y = _iris()
    clf = ResNetClassifier(**TINY_E2E).fit(X, y)
    faked = copy.deepcopy(clf)
    faked.device_ = torch.device("cuda:7")
    data = pickle.dumps(faked)
    faked.save(tmp_path / "model.safetensors")
    with (
        mock.patch("torch.cuda.is_available", return_value=True),
        mock.patch("torch.cuda.device_count", return_value=1),
    ):
        with pytest.warns(DeviceWarning, match="only 1 CUDA device"):
            pickled = pickle.loads(data)
        with pytest.warns(DeviceWarning, match="only 1 CUDA device"):
            loaded = load(tmp_path / "model.safetensors")
    for restored in (pickled, loaded):
        assert restored.device_ == torch.device("cpu")
        np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


@pytest.mark.cuda
def test_cuda_fitted_model_round_trips(tmp_path):
    X, y = _iris()
    clf = BoostResNetClassifier(**{**TINY_BOOST, "device": "cuda"}).fit(X, y)
    path = tmp_path / "model.safetensors"
    clf.save(path)
    on_cuda = load(path)
    assert on_cuda.device_.type == "cuda"
    np.testing.assert_array_equal(on_cuda.predict_proba(X), clf.predict_proba(X))
    on_cpu = load(path, device="cpu")
    np.testing.assert_allclose(on_cpu.predict_proba(X), clf.predict_proba(X), atol=1e-5)
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps(clf))
    # A process that sees no GPU gets the model on its CPU.
    script = textwrap.dedent(
        f"""
        import pickle, warnings
        import numpy as np
        from sklearn.datasets import load_iris
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            clf = pickle.loads(open({str(pickled)!r}, "rb").read())
        assert clf.device_.type == "cpu", clf.device_
        assert any("moved to the CPU" in str(w.message) for w in caught)
        X = load_iris(return_X_y=True)[0]
        np.save({str(tmp_path / "proba.npy")!r}, clf.predict_proba(X))
        """
    )
    env = {"CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(REPO_ROOT)}
    subprocess.run([sys.executable, "-c", script], check=True, env={**_env(), **env})
    np.testing.assert_allclose(np.load(tmp_path / "proba.npy"), clf.predict_proba(X), atol=1e-5)


def _env():
    import os

    return dict(os.environ)


# -- the safe format ----------------------------------------------------------------


def test_save_load_round_trip(fitted, tmp_path):
    estimator, X, _ = fitted
    path = tmp_path / "model.safetensors"
    assert estimator.save(path) is None
    restored = load(str(path))
    assert type(restored) is type(estimator)
    _assert_same_state(estimator, restored)
    _assert_same_outputs(estimator, restored, X)


def test_feature_names_round_trip(tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = _iris()
    frame = pd.DataFrame(X, columns=["sepal length", "sepal width", "petal length", "petal width"])
    clf = ResNetClassifier(**TINY_E2E).fit(frame, y)
    clf.save(tmp_path / "model.safetensors")
    restored = load(tmp_path / "model.safetensors")
    np.testing.assert_array_equal(restored.feature_names_in_, clf.feature_names_in_)
    np.testing.assert_array_equal(restored.predict(frame), clf.predict(frame))
    with pytest.raises(ValueError, match="feature names"):
        restored.predict(frame.rename(columns={"petal width": "width"}))


def test_loaded_boosted_model_warm_starts_like_the_original(tmp_path):
    X, y = _iris()
    clf = BoostResNetClassifier(**TINY_BOOST, warm_start=True).fit(X, y)
    clf.save(tmp_path / "model.safetensors")
    restored = load(tmp_path / "model.safetensors")
    original = copy.deepcopy(clf).set_params(n_estimators=4).fit(X, y)
    restored.set_params(n_estimators=4).fit(X, y)
    np.testing.assert_array_equal(restored.predict_proba(X), original.predict_proba(X))


def test_loaded_model_keeps_its_input_noise(tmp_path):
    X, y = _iris()
    clf = BoostResNetClassifier(**TINY_BOOST, input_noise=0.7).fit(X, y)
    clf.save(tmp_path / "model.safetensors")
    assert load(tmp_path / "model.safetensors").module_.stem.noise == 0.7
    assert pickle.loads(pickle.dumps(clf)).module_.stem.noise == 0.7


def test_load_in_a_fresh_process(tmp_path):
    X, y = _friedman()
    reg = BoostResNetRegressor(**TINY_BOOST).fit(X, y)
    path = tmp_path / "model.safetensors"
    reg.save(path)
    np.save(tmp_path / "X.npy", X)
    script = textwrap.dedent(
        f"""
        import numpy as np
        import sklearn_resboost
        reg = sklearn_resboost.load({str(path)!r})
        np.save({str(tmp_path / "pred.npy")!r}, reg.predict(np.load({str(tmp_path / "X.npy")!r})))
        """
    )
    subprocess.run(
        [sys.executable, "-c", script], check=True, env={**_env(), "PYTHONPATH": str(REPO_ROOT)}
    )
    np.testing.assert_array_equal(np.load(tmp_path / "pred.npy"), reg.predict(X))


def test_load_onto_an_explicit_device(fitted, tmp_path):
    estimator, _, _ = fitted
    estimator.save(tmp_path / "model.safetensors")
    restored = load(tmp_path / "model.safetensors", device="cpu")
    assert restored.device_ == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            load(tmp_path / "model.safetensors", device="cuda")


def test_what_cannot_be_saved(tmp_path):
    X, y = _iris()

    def block(width):
        return torch.nn.Sequential(torch.nn.Linear(width, width))

    custom = BoostResNetClassifier(**TINY_BOOST, block=block).fit(X, y)
    with pytest.raises(ValueError, match="block is a callable"):
        custom.save(tmp_path / "model.safetensors")
    assert not (tmp_path / "model.safetensors").exists()
    from skorch.callbacks import EpochTimer

    with_callbacks = ResNetClassifier(**TINY_E2E, callbacks=[EpochTimer()]).fit(X, y)
    with pytest.raises(ValueError, match="callbacks"):
        with_callbacks.save(tmp_path / "model.safetensors")
    # The same model without its callbacks parameter saves.
    with_callbacks.set_params(callbacks=None).save(tmp_path / "model.safetensors")
    with pytest.raises(NotFittedError):
        ResNetRegressor().save(tmp_path / "unfitted.safetensors")


# -- damaged, tampered and foreign files ------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    X, y = _iris()
    clf = BoostResNetClassifier(**TINY_BOOST).fit(X, y)
    path = tmp_path_factory.mktemp("saved") / "model.safetensors"
    clf.save(path)
    return path


def _read(path):
    data = Path(path).read_bytes()
    n = int.from_bytes(data[:8], "little")
    metadata = json.loads(data[8 : 8 + n])["__metadata__"]
    return json.loads(metadata["sklearn_resboost"]), safetensors.numpy.load(data)


def _write(path, document, tensors, sign=True):
    """Write a file as ``save`` does, with a valid digest unless ``sign`` is False."""
    text = json.dumps(document, sort_keys=True)
    digest = _persistence._digest(text, tensors) if sign else "0" * 64
    metadata = {"sklearn_resboost": text, "sklearn_resboost.sha256": digest}
    Path(path).write_bytes(safetensors.numpy.save(tensors, metadata=metadata))


def test_resigned_copy_loads(saved, tmp_path):
    # The helper writes what save writes, so the failures below are the edits'.
    _write(tmp_path / "copy.safetensors", *_read(saved))
    X, _ = _iris()
    np.testing.assert_array_equal(
        load(tmp_path / "copy.safetensors").predict_proba(X), load(saved).predict_proba(X)
    )


@pytest.mark.parametrize("keep", [0, 5, 8, 64, 0.5, -1])
def test_truncated_file(saved, tmp_path, keep):
    data = saved.read_bytes()
    keep = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    path = tmp_path / "truncated.safetensors"
    path.write_bytes(data[:keep])
    with pytest.raises(ValueError, match="not a valid sklearn_resboost model file"):
        load(path)


def test_flipped_bytes_are_detected(saved, tmp_path):
    data = saved.read_bytes()
    path = tmp_path / "flipped.safetensors"
    # The length prefix, then an even sample of the JSON header and the tensors.
    header_end = 8 + int.from_bytes(data[:8], "little")
    positions = [*range(8), *range(8, header_end, 5), *range(header_end, len(data), 16)]
    for position in positions:
        damaged = bytearray(data)
        damaged[position] ^= 0x01
        path.write_bytes(bytes(damaged))
        with pytest.raises(ValueError, match="not a valid sklearn_resboost model file"):
            load(path)


def test_edited_json_breaks_the_digest(saved, tmp_path):
    document, tensors = _read(saved)
    document["params"]["learning_rate"] = 0.25
    _write(tmp_path / "edited.safetensors", document, tensors, sign=False)
    with pytest.raises(ValueError, match="digest does not match"):
        load(tmp_path / "edited.safetensors")


def test_edited_tensor_breaks_the_digest(saved, tmp_path):
    document, tensors = _read(saved)
    tensors["module.heads.1.bias"] = tensors["module.heads.1.bias"] + 1
    _write(tmp_path / "edited.safetensors", document, tensors, sign=False)
    with pytest.raises(ValueError, match="digest does not match"):
        load(tmp_path / "edited.safetensors")


def _tamper(document, tensors, edit):
    if edit == "unknown class":
        document["estimator"] = "Pipeline"
    elif edit == "newer format":
        document["format_version"] = _persistence.FORMAT_VERSION + 1
    elif edit == "missing tensor":
        del tensors["module.blocks.1.linear2.weight"]
    elif edit == "wrong shape":
        tensors["module.stem.linear.weight"] = np.zeros((8, 5), dtype=np.float32)
    elif edit == "wrong dtype":
        tensors["module.stem.center"] = tensors["module.stem.center"].astype(np.float64)
    elif edit == "extra tensor":
        tensors["attributes.payload"] = np.zeros(3)
    elif edit == "larger network":
        document["network"]["width"] = 1_000_000
    elif edit == "invalid parameter":
        document["params"]["n_estimators"] = -3
    elif edit == "unknown parameter":
        document["params"]["exec"] = "import os"
    elif edit == "inconsistent attribute":
        document["attributes"]["n_features_in_"] = 5
    elif edit == "dunder attribute":
        document["attributes"]["__class__"] = "ResNetRegressor"
    elif edit == "unknown value type":
        document["attributes"]["train_score_"] = {"__type__": "pickle", "data": "gASVAA=="}
    elif edit == "unknown loss":
        document["attributes"]["_loss"]["class"] = "Evil"
    elif edit == "wide string dtype":
        document["attributes"]["classes_"]["dtype"] = "<U100000000"
    elif edit == "bad device":
        document["attributes"]["device_"]["value"] = "xla:0"
    elif edit == "undeclared attribute":
        document["attributes"]["predict_proba_"] = 1.0
    elif edit == "deep value":
        value = 0
        for _ in range(900):
            value = [value]
        document["attributes"]["fine_tune_history_"] = value
    elif edit == "huge string shape":
        classes = document["attributes"]["classes_"]
        classes["shape"], classes["values"] = [2**32, 2**32], []
    return document, tensors


TAMPER_MESSAGES = {
    "unknown class": "unknown estimator class 'Pipeline'",
    "newer format": "newer sklearn_resboost",
    "missing tensor": r"tensors \['blocks.1.linear2.weight'\] are missing",
    "wrong shape": "has shape",
    "wrong dtype": "not float32",
    "extra tensor": "not referenced",
    "larger network": "has shape",
    "invalid parameter": "n_estimators",
    "unknown parameter": r"no parameters \['exec'\]",
    "inconsistent attribute": "n_features_in_=5",
    "dunder attribute": "not a fitted attribute of BoostResNetClassifier",
    "undeclared attribute": "'predict_proba_' is not a fitted attribute",
    "deep value": "nested more than 32 deep",
    "huge string shape": r"shape \[4294967296, 4294967296\] does not fit",
    "unknown value type": "unknown value type 'pickle'",
    "unknown loss": "unknown loss 'Evil'",
    "bad device": "not supported|not a torch device",
    "wide string dtype": "wider than its values need",
}


@pytest.mark.parametrize("edit", sorted(TAMPER_MESSAGES))
def test_tampered_but_resigned_file(saved, tmp_path, edit):
    document, tensors = _tamper(*_read(saved), edit)
    path = tmp_path / "tampered.safetensors"
    _write(path, document, tensors)
    with pytest.raises(ValueError, match=TAMPER_MESSAGES[edit]):
        load(path)


class _Marker:
    """Unpickling this would record that code from the file ran."""

    ran = []

    def __reduce__(self):
        return (_Marker.ran.append, ("code from the file ran",))


@pytest.mark.parametrize("kind", ["pickle", "noise", "plain safetensors"])
def test_foreign_files_are_rejected_without_running_them(tmp_path, kind):
    path = tmp_path / "foreign"
    if kind == "pickle":
        path.write_bytes(pickle.dumps(_Marker()))
    elif kind == "noise":
        path.write_bytes(np.random.RandomState(0).bytes(1000))
    else:
        path.write_bytes(safetensors.numpy.save({"w": np.zeros(3, dtype=np.float32)}))
    with pytest.raises(ValueError, match="not a valid sklearn_resboost model file"):
        load(path)
    assert _Marker.ran == []


def test_format_description_in_the_file(saved):
    document, tensors = _read(saved)
    assert document["format_version"] == _persistence.FORMAT_VERSION
    assert document["versions"]["sklearn_resboost"] == sklearn_resboost.__version__
    assert document["estimator"] == "BoostResNetClassifier"
    assert document["network"] == {
        "n_features": 4,
        "width": 8,
        "hidden_size": 8,
        "dropout": 0.0,
        "n_blocks": document["attributes"]["n_estimators_"],
        "n_heads": document["attributes"]["n_estimators_"] + 1,
        "n_outputs": 3,
        "learning_rate": document["params"]["learning_rate"],
        "skip": True,
        "cardinalities": [0, 0, 0, 0],
        "numeric_bins": 16,
    }
    assert document["attributes"]["classes_"] == {
        "__type__": "str_array",
        "dtype": "<U10",
        "shape": [3],
        "values": ["setosa", "versicolor", "virginica"],
    }
    assert all(t.dtype == np.float32 for n, t in tensors.items() if n.startswith("module."))


def test_forged_block_count_is_refused_before_any_block_is_built(saved, tmp_path, monkeypatch):
    document, tensors = _read(saved)
    for field, value in [("n_blocks", 10**6), ("n_heads", 10**6 + 1)]:
        document["network"][field] = value
    document["attributes"]["n_estimators_"] = document["attributes"]["_n_rounds"] = 10**6
    path = tmp_path / "forged.safetensors"
    _write(path, document, tensors)
    built = []
    original = _persistence.MLPBlock.__init__

    def counted(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(_persistence.MLPBlock, "__init__", counted)
    # The root's tensors, the encoding's four among them, and those of the kept blocks and heads.
    with pytest.raises(ValueError, match="holds 31 network tensors, but the described network"):
        load(path)
    # One template block, on the meta device, to list a block's tensors.
    assert len(built) <= 1


def test_deeply_nested_header_is_a_clear_error(saved, tmp_path):
    data = saved.read_bytes()
    header = b"[" * 200_000 + b"]" * 200_000
    path = tmp_path / "deep.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header + data[8:])
    with pytest.raises(ValueError, match="nested too deeply|not valid JSON"):
        load(path)
    text = json.dumps({"__metadata__": {"sklearn_resboost": "[" * 100_000 + "]" * 100_000}})
    path.write_bytes(len(text).to_bytes(8, "little") + text.encode())
    with pytest.raises(ValueError, match="nested too deeply|not valid JSON"):
        load(path)


def test_save_and_load_take_file_objects(saved):
    X, _ = _iris()
    model = load(saved)
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(load(buffer).predict_proba(X), model.predict_proba(X))
    with open(saved, "rb") as file:
        np.testing.assert_array_equal(load(file).predict_proba(X), model.predict_proba(X))
    with pytest.raises(TypeError, match="binary mode"):
        load(io.StringIO("text"))


@pytest.mark.parametrize(
    "write, kind",
    [
        (lambda obj, path: pickle.dump(obj, open(path, "wb")), "a pickle file"),
        (lambda obj, path: joblib.dump(obj, path), "a pickle file"),
        (lambda obj, path: joblib.dump(obj, path, compress=3), "zlib-compressed"),
        (lambda obj, path: joblib.dump(obj, path, compress=("gzip", 3)), "gzip-compressed"),
        (lambda obj, path: torch.save({"w": torch.zeros(2)}, path), "a zip archive"),
    ],
)
def test_load_names_pickle_and_joblib_files(saved, tmp_path, write, kind):
    path = tmp_path / "model.joblib"
    write(load(saved), path)
    with pytest.raises(ValueError, match=f"{kind}.*joblib.load.*trust"):
        load(path)


def _save_then_fail(tmp_path, failure):
    path = tmp_path / "model.safetensors"
    X, y = _iris()
    old = BoostResNetClassifier(**TINY_BOOST).fit(X, y)
    old.save(path)
    before = path.read_bytes()
    new = BoostResNetClassifier(**{**TINY_BOOST, "n_estimators": 4, "random_state": 1}).fit(X, y)
    with failure, pytest.raises(OSError):
        new.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
    np.testing.assert_array_equal(load(path).predict_proba(X), old.predict_proba(X))


def test_a_full_disk_leaves_the_old_file(tmp_path):
    def no_space(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    _save_then_fail(tmp_path, mock.patch.object(_persistence.os, "fsync", no_space))


def test_a_file_size_limit_leaves_the_old_file(tmp_path):
    if sys.platform == "win32":
        pytest.skip("RLIMIT_FSIZE is POSIX")
    path = tmp_path / "model.safetensors"
    X, y = _iris()
    BoostResNetClassifier(**TINY_BOOST).fit(X, y).save(path)
    before = path.read_bytes()
    script = textwrap.dedent(
        f"""
        import resource, signal
        from sklearn_resboost import load
        model = load({str(path)!r})
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({len(before) // 2}, {len(before) // 2}))
        try:
            model.save({str(path)!r})
        except OSError as exc:
            print("refused", exc.errno)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=_env(), timeout=300
    )
    assert "refused" in result.stdout, result.stderr
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_save_keeps_the_usual_file_mode(tmp_path):
    path = tmp_path / "model.safetensors"
    load_path = tmp_path / "plain"
    load_path.write_bytes(b"")
    X, y = _iris()
    BoostResNetClassifier(**TINY_BOOST).fit(X, y).save(path)
    assert path.stat().st_mode & 0o777 == load_path.stat().st_mode & 0o777


def test_fitted_attributes_are_declared(fitted):
    estimator, _, _ = fitted
    params = estimator.get_params(deep=False)
    schema = type(estimator)._fitted_schema
    fitted = set(vars(estimator)) - set(params)
    assert fitted <= set(schema)
    # Each value is of the kind the schema declares.
    for name in fitted:
        assert _persistence.FITTED_KINDS[schema[name]].check(
            getattr(estimator, name), estimator
        ), name


@pytest.mark.parametrize("make", [BoostResNetRegressor, ResNetRegressor])
def test_files_with_the_former_target_attributes_load(tmp_path, make):
    X, y = _friedman()
    params = TINY_BOOST if make is BoostResNetRegressor else TINY_E2E
    model = make(**params).fit(X, y)
    path = tmp_path / "model.safetensors"
    model.save(path)
    document, tensors = _read(path)
    # Files written before the output units moved to the network carry them.
    offset = model.module_.output_offset.double().numpy()
    scale = model.module_.output_scale.double().numpy()
    tensors["attributes._target_offset"], tensors["attributes._target_scale"] = offset, scale
    document["attributes"]["_target_offset"] = {
        "__type__": "ndarray", "tensor": "attributes._target_offset"
    }
    document["attributes"]["_target_scale"] = {
        "__type__": "ndarray", "tensor": "attributes._target_scale"
    }
    _write(path, document, tensors)
    loaded = load(path)
    assert not hasattr(loaded, "_target_offset")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize(
    "change",
    [{"learning_rate": 0.5}, {"width": 16}, {"hidden_size": 16}, {"dropout": 0.5},
     {"block": lambda width: torch.nn.Linear(width, width)}],
)
def test_warm_start_refuses_a_changed_structure_and_saves_after(tmp_path, change):
    X, y = _iris()
    model = BoostResNetClassifier(**TINY_BOOST, warm_start=True).fit(X, y)
    before = model.predict_proba(X)
    model.set_params(n_estimators=4, **change)
    with pytest.raises(ValueError, match=f"warm_start=True adds blocks.*{next(iter(change))}="):
        model.fit(X, y)
    # The refused fit changed nothing: the fitted network still predicts the same.
    np.testing.assert_array_equal(model.predict_proba(X), before)
    unchanged = BoostResNetClassifier(**TINY_BOOST).get_params()
    model.set_params(**{name: unchanged[name] for name in change})
    model.fit(X, y)
    path = tmp_path / "warm.safetensors"
    model.save(path)
    np.testing.assert_array_equal(load(path).predict_proba(X), model.predict_proba(X))


def test_warm_start_on_a_changed_device_moves_the_network(tmp_path):
    X, y = _iris()
    model = BoostResNetClassifier(**TINY_BOOST, warm_start=True).fit(X, y)
    # As if it had been fitted on a CUDA machine and loaded on the CPU.
    model.device_ = torch.device("meta")
    model.set_params(n_estimators=3, device="cpu").fit(X, y)
    assert model.device_ == torch.device("cpu")
    assert next(model.module_.parameters()).device == torch.device("cpu")


def test_a_pickle_without_a_newer_parameter_gets_its_default(fitted):
    estimator, X, _ = fitted
    state = estimator.__getstate__()
    del state["n_threads"]
    restored = type(estimator).__new__(type(estimator))
    restored.__setstate__(state)
    assert restored.get_params()["n_threads"] is None
    _assert_same_outputs(restored, estimator, X)
