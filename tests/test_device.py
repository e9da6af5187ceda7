"""Devices, seeding and the mapping of CUDA-fitted models to the CPU."""

import pickle
from unittest import mock

import numpy as np
import pytest
import torch
from _params import TINY_BOOST

from sklearn_resboost import (
    BoostResNetClassifier,
    BoostResNetRegressor,
    DeviceWarning,
    ResNetClassifier,
)
from sklearn_resboost._device import (
    autocast,
    available_device,
    fetch,
    inference_mode,
    module_from_bytes,
    module_to_bytes,
    resolve_device,
    seeded,
    storage_device,
    to_storage,
)

cuda = pytest.mark.cuda


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    with mock.patch("torch.cuda.is_available", return_value=False):
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:1")
    with pytest.raises(ValueError, match="not supported"):
        resolve_device("meta")


def test_seeded_leaves_the_global_state_alone():
    torch.manual_seed(5)
    state = torch.get_rng_state()
    with seeded(3, torch.device("cpu")):
        a = torch.rand(3)
    with seeded(3, torch.device("cpu")):
        b = torch.rand(3)
    assert torch.equal(a, b)
    assert torch.equal(torch.get_rng_state(), state)


def test_inference_mode_computes_on_a_float64_copy_on_the_cpu():
    layer = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5)).train()
    with inference_mode(layer) as module:
        assert not module.training and module[0].weight.dtype == torch.float64
        assert torch.equal(module[0].weight.float(), layer[0].weight)
        # The module itself is never touched, so that concurrent callers agree.
        assert layer.training and layer[0].weight.dtype == torch.float32
    assert layer.training and layer[0].weight.dtype == torch.float32


def test_cuda_saved_module_maps_to_cpu():
    data = module_to_bytes(torch.nn.Linear(2, 2))
    with mock.patch("torch.cuda.is_available", return_value=False):
        with pytest.warns(DeviceWarning, match="moved to the CPU"):
            module, device = module_from_bytes(data, available_device(torch.device("cuda")))
    assert device == torch.device("cpu")
    assert module.weight.device.type == "cpu"


def test_unpickling_a_cuda_model_without_cuda(binary_data):
    X, y = binary_data
    # As if device="auto" had found CUDA.
    clf = BoostResNetClassifier(**{**TINY_BOOST, "device": "auto"}).fit(X, y)
    state = clf.__getstate__()
    state["device_"] = torch.device("cuda", 0)
    restored = BoostResNetClassifier.__new__(BoostResNetClassifier)
    with mock.patch("torch.cuda.is_available", return_value=False):
        with pytest.warns(DeviceWarning):
            restored.__setstate__(state)
    assert restored.device_ == torch.device("cpu")
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


@cuda
def test_fit_on_cuda_and_load_on_cpu(binary_data, regression_data):
    for make, (X, y) in ((BoostResNetClassifier, binary_data), (BoostResNetRegressor, regression_data)):
        est = make(n_estimators=3, epochs_per_block=2, device="cuda", random_state=0).fit(X, y)
        assert est.device_.type == "cuda"
        assert next(est.module_.parameters()).device.type == "cuda"
        cpu = make(n_estimators=3, epochs_per_block=2, device="cpu", random_state=0).fit(X, y)
        assert cpu.score(X, y) == pytest.approx(est.score(X, y), abs=0.1)
        data = pickle.dumps(est)
        with mock.patch("torch.cuda.is_available", return_value=False):
            with pytest.warns(DeviceWarning):
                restored = pickle.loads(data)
        assert restored.device_ == torch.device("cpu")
        expected = est.predict(X)
        np.testing.assert_allclose(restored.predict(X), expected, rtol=1e-4, atol=1e-4)


@cuda
def test_cuda_fit_is_reproducible(binary_data):
    X, y = binary_data
    a = BoostResNetClassifier(n_estimators=2, device="cuda", random_state=0).fit(X, y)
    b = BoostResNetClassifier(n_estimators=2, device="cuda", random_state=0).fit(X, y)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-5)


def test_mixed_precision_has_no_effect_on_the_cpu(binary_data):
    X, y = binary_data
    plain = BoostResNetClassifier(**TINY_BOOST).fit(X, y)
    mixed = BoostResNetClassifier(**TINY_BOOST, mixed_precision=True).fit(X, y)
    np.testing.assert_array_equal(mixed.decision_function(X), plain.decision_function(X))
    with autocast(torch.device("cpu"), True):
        assert torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == torch.float32


def test_rows_stay_on_the_cpu_device():
    cpu = torch.device("cpu")
    assert storage_device(cpu, 10**15) == cpu
    tensor = to_storage(np.ones((3, 2)), torch.float32, cpu, cpu)
    assert tensor.dtype == torch.float32 and not tensor.is_pinned()
    assert fetch(tensor, cpu) is tensor


@cuda
def test_mixed_precision_on_cuda(binary_data):
    X, y = binary_data
    for make, params in (
        (BoostResNetClassifier, dict(n_estimators=3, epochs_per_block=2)),
        (ResNetClassifier, dict(n_blocks=3, max_epochs=5)),
    ):
        plain = make(device="cuda", random_state=0, **params).fit(X, y)
        mixed = make(device="cuda", mixed_precision=True, random_state=0, **params).fit(X, y)
        assert all(p.dtype == torch.float32 for p in mixed.module_.parameters())
        assert mixed.score(X, y) == pytest.approx(plain.score(X, y), abs=0.05)
    np.testing.assert_allclose(
        mixed.predict_proba(X).sum(axis=1), 1.0, rtol=1e-6
    )
    with autocast(torch.device("cuda"), True):
        assert torch.mm(torch.ones(2, 2, device="cuda"), torch.ones(2, 2, device="cuda")).dtype == (
            torch.bfloat16
        )


@cuda
def test_rows_larger_than_the_device_stream_from_pinned_host_memory(binary_data):
    X, y = binary_data
    params = dict(n_estimators=3, epochs_per_block=2, device="cuda", random_state=0)
    on_device = BoostResNetClassifier(**params).fit(X, y)
    free, total = torch.cuda.mem_get_info()
    copies = []
    original = torch.Tensor.pin_memory

    def pin_memory(tensor, *args, **kwargs):
        copies.append(tensor.shape)
        return original(tensor, *args, **kwargs)

    # Pretend the device has almost no free memory: the rows stay on the host.
    with mock.patch("torch.cuda.mem_get_info", return_value=(1024, total)), \
            mock.patch.object(torch.Tensor, "pin_memory", pin_memory):
        assert storage_device(torch.device("cuda"), 10**6) == torch.device("cpu")
        streamed = BoostResNetClassifier(**params).fit(X, y)
        assert copies, "no batch went through pinned memory"
        assert streamed.device_.type == "cuda"
        assert next(streamed.module_.parameters()).device.type == "cuda"
        assert np.all(np.diff(streamed.train_score_) <= 1e-6)
        host_scores = streamed.decision_function(X)
        host_staged = list(streamed.staged_decision_function(X))
    assert streamed.score(X, y) == pytest.approx(on_device.score(X, y), abs=0.05)
    np.testing.assert_allclose(streamed.decision_function(X), host_scores, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(host_staged[-1], host_scores, rtol=1e-5, atol=1e-5)
