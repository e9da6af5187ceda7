"""Devices, seeding and the mapping of CUDA-fitted models to the CPU."""

import pickle
from unittest import mock

import numpy as np
import pytest
import torch

from sklearn_resboost import BoostResNetClassifier, BoostResNetRegressor, DeviceWarning
from sklearn_resboost._device import (
    inference_mode,
    module_from_bytes,
    module_to_bytes,
    resolve_device,
    seeded,
)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


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


def test_inference_mode_restores_dtype_and_mode():
    layer = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5)).train()
    with inference_mode(layer) as module:
        assert not module.training and module[0].weight.dtype == torch.float64
    assert layer.training and layer[0].weight.dtype == torch.float32


def test_cuda_saved_module_maps_to_cpu():
    data = module_to_bytes(torch.nn.Linear(2, 2))
    with mock.patch("torch.cuda.is_available", return_value=False):
        with pytest.warns(DeviceWarning, match="moved to the CPU"):
            module, device = module_from_bytes(data, torch.device("cuda"))
    assert device == torch.device("cpu")
    assert module.weight.device.type == "cpu"


def test_unpickling_a_cuda_model_without_cuda(binary_data):
    X, y = binary_data
    clf = BoostResNetClassifier(n_estimators=2, epochs_per_block=1, width=8, hidden_size=8, random_state=0)
    clf.fit(X, y)
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
