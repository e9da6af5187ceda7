"""The torch modules: stem normalisation, blocks, the staged network, the size check."""

import os
import resource
import time

import numpy as np
import pytest
import torch

from sklearn_resboost import _modules
from sklearn_resboost._modules import (
    MLPBlock,
    ResNet,
    Stem,
    available_memory,
    check_network_size,
    make_block,
    network_bytes,
    zero_last_layer,
)

CPU = torch.device("cpu")


def small_network(n_blocks=3, skip=True):
    torch.manual_seed(0)
    stem = Stem(4, 8)
    stem.set_normalisation(np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 2.0, 1.0, 0.5]))
    net = ResNet(stem, 2, learning_rate=0.5, skip=skip)
    for _ in range(n_blocks):
        net.blocks.append(MLPBlock(8, 16))
    for _ in range(n_blocks + 1):
        net.heads.append(torch.nn.Linear(8, 2))
    net.output_scale.fill_(3.0)
    net.output_offset.fill_(-1.0)
    return net.eval()


def test_stem_standardises_then_maps():
    stem = Stem(2, 3)
    stem.set_normalisation(np.array([10.0, -1.0]), np.array([2.0, 4.0]))
    x = torch.tensor([[12.0, 3.0]])
    expected = stem.linear(torch.tensor([[1.0, 1.0]]))
    torch.testing.assert_close(stem(x), expected)
    # Far out-of-range inputs stay finite.
    assert torch.all(torch.isfinite(stem(torch.tensor([[1e30, -1e30]]))))


def test_stem_noise_only_in_training():
    stem = Stem(3, 4, noise=0.5)
    stem.set_normalisation(np.zeros(3), np.array([1.0, 10.0, 100.0]))
    x = torch.tensor([[1.0, 10.0, 100.0]] * 2000)
    quiet = Stem(3, 4)
    quiet.load_state_dict(stem.state_dict())
    stem.eval()
    torch.testing.assert_close(stem(x), quiet(x))
    stem.train()
    torch.manual_seed(0)
    noisy = stem(x)
    assert not torch.allclose(noisy, quiet(x))
    # The noise is in standardised units: its spread through the linear map is
    # noise * |W| for every feature, whatever the feature's own scale.
    expected = 0.5 * stem.linear.weight.detach().norm(dim=1)
    torch.testing.assert_close((noisy - quiet(x)).std(dim=0).detach(), expected, rtol=0.1, atol=0)
    quiet.train()
    torch.testing.assert_close(quiet(x), stem.eval()(x))


def test_staged_scores_follow_the_definition():
    net = small_network()
    x = torch.randn(5, 4)
    g = net.stem(x)
    expected = [net.heads[0](g) * 3.0 - 1.0]
    for k in range(3):
        g = g + 0.5 * net.blocks[k](g)
        expected.append(net.heads[k + 1](g) * 3.0 - 1.0)
    with torch.no_grad():
        staged = list(net.staged_scores(x))
        torch.testing.assert_close(staged, [e.detach() for e in expected])
        torch.testing.assert_close(net(x), expected[-1].detach())


def test_plain_network_has_no_skip():
    net = small_network(skip=False)
    x = torch.randn(5, 4)
    with torch.no_grad():
        g = net.stem(x)
        for block in net.blocks:
            g = block(g)
        torch.testing.assert_close(net(x), net.heads[3](g) * 3.0 - 1.0)


def test_zero_last_layer_makes_the_block_vanish():
    block = MLPBlock(8, 16, dropout=0.5)
    assert zero_last_layer(block)
    block.train()
    assert torch.equal(block(torch.randn(4, 8)), torch.zeros(4, 8))
    assert not zero_last_layer(torch.nn.ReLU())


def test_make_block():
    assert isinstance(make_block("mlp", 8, 16, 0.0), MLPBlock)
    plain = make_block("mlp", 8, 16, 0.0, zero_init=False)
    assert plain.linear2.weight.abs().sum() > 0
    with pytest.raises(ValueError, match="torch.nn.Module"):
        make_block(lambda width: None, 8, 16, 0.0)


class Float64Output(torch.nn.Module):
    def __init__(self, width):
        super().__init__()
        self.linear = torch.nn.Linear(width, width)

    def forward(self, x):
        return self.linear(x).double()


class AlwaysNoisy(torch.nn.Module):
    """Draws random numbers in evaluation mode too."""

    def __init__(self, width):
        super().__init__()
        self.linear = torch.nn.Linear(width, width)

    def forward(self, x):
        return self.linear(x) + 0.0 * torch.randn_like(x)


@pytest.mark.parametrize(
    "block, problem",
    [
        (lambda width: torch.nn.Linear(width, width + 1), "returned shape (2, 9)"),
        (lambda width: torch.nn.Linear(width + 1, width), "raised RuntimeError: mat1 and mat2"),
        (
            lambda width: torch.nn.Linear(width, width).double(),
            "raised RuntimeError: mat1 and mat2 must have the same dtype",
        ),
        (Float64Output, "returned dtype torch.float64"),
        (lambda width: torch.nn.LSTM(width, width), "returned tuple, not a tensor"),
    ],
    ids=["wider", "narrower", "float64-module", "float64-output", "tuple"],
)
def test_make_block_refuses_a_block_that_does_not_fit(block, problem):
    expected = (
        "block must return a torch.nn.Module mapping float32 inputs of shape (n_samples, "
        "width) to float32 outputs of the same shape; on inputs of shape (2, 8) the "
        "module of block(8) " + problem
    )
    for zero_init in (True, False):
        with pytest.raises(ValueError) as raised:
            make_block(block, 8, 16, 0.0, zero_init=zero_init)
        assert str(raised.value).startswith(expected), str(raised.value)


@pytest.mark.parametrize(
    "factory",
    [
        lambda width: MLPBlock(width, 16, dropout=0.5),
        lambda width: torch.nn.Sequential(
            torch.nn.Linear(width, width), torch.nn.BatchNorm1d(width)
        ),
        AlwaysNoisy,
    ],
    ids=["dropout", "batchnorm", "noise-in-eval"],
)
def test_block_probe_changes_neither_the_block_nor_the_random_state(factory):
    # A seeded fit must draw the same numbers with and without the probe.
    torch.manual_seed(0)
    built = make_block(factory, 8, 16, 0.0)
    state = torch.get_rng_state()
    torch.manual_seed(0)
    direct = factory(8)
    zero_last_layer(direct)
    assert torch.equal(state, torch.get_rng_state())
    assert all(torch.equal(a, b) for a, b in zip(built.state_dict().values(),
                                                 direct.state_dict().values()))
    assert all(module.training for module in built.modules())
    assert not any(param.grad is not None for param in built.parameters())


def test_block_probe_restores_mixed_training_modes():
    def factory(width):
        block = torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.Dropout(0.5))
        block[1].eval()
        return block

    block = make_block(factory, 8, 16, 0.0)
    assert [m.training for m in block.modules()] == [True, True, False]


@pytest.mark.cuda
def test_block_probe_runs_on_the_device_of_the_block():
    device = torch.device("cuda", torch.cuda.current_device())
    torch.cuda.manual_seed(0)
    state = torch.cuda.get_rng_state(device)
    block = make_block(lambda width: AlwaysNoisy(width).to(device), 8, 16, 0.0)
    assert next(block.parameters()).device == device
    assert torch.equal(state, torch.cuda.get_rng_state(device))
    with pytest.raises(ValueError, match="returned shape"):
        make_block(lambda width: torch.nn.Linear(width, width + 1).to(device), 8, 16, 0.0)


def _network(n_features, width, hidden_size, n_blocks, n_outputs):
    net = ResNet(Stem(n_features, width), n_outputs)
    net.blocks.extend(MLPBlock(width, hidden_size) for _ in range(n_blocks))
    net.heads.extend(torch.nn.Linear(width, n_outputs) for _ in range(n_blocks + 1))
    return net


@pytest.mark.parametrize("end_to_end", [True, False])
def test_network_bytes_counts_every_value_of_the_network(end_to_end):
    sizes = {"n_features": 5, "width": 12, "hidden_size": 7, "n_blocks": 3, "n_outputs": 4}
    n_trained_blocks = None if end_to_end else 1
    net = _network(**sizes)
    # The stem's index buffers follow from its cardinalities and are not counted.
    n_values = sum(t.numel() for t in net.state_dict().values())
    # End to end, the stem, every block and the final head train; a boosting
    # round trains one block and a head.
    trained = [net.stem, *net.blocks, net.heads[-1]] if end_to_end else [net.blocks[0], net.heads[-1]]
    n_trained = sum(p.numel() for module in trained for p in module.parameters())
    # Each trained block keeps its LayerNorm's input and output and its hidden
    # layer, the final head its input and, end to end, the stem the inputs: 2
    # bytes each under mixed precision.
    row_bytes = 2 * ((3 if end_to_end else 1) * (2 * 12 + 7) + 12 + (5 if end_to_end else 0))
    # Gradients outweigh the activations of one row, not those of 10,000.
    assert network_bytes(**sizes, batch_size=1, n_trained_blocks=n_trained_blocks) == 4 * (
        n_values + 3 * n_trained
    )
    assert network_bytes(**sizes, batch_size=10_000, n_trained_blocks=n_trained_blocks) == (
        4 * (n_values + 2 * n_trained) + 10_000 * row_bytes
    )


@pytest.mark.parametrize("mixed_precision", [False, True])
def test_network_bytes_is_below_what_a_training_step_keeps(mixed_precision):
    sizes = {"n_features": 5, "width": 32, "hidden_size": 48, "n_blocks": 4, "n_outputs": 3}
    batch_size = 256
    net = _network(**sizes).train()
    saved = {}

    def pack(tensor):
        if tensor.dim() and tensor.shape[0] == batch_size:
            saved[tensor.data_ptr(), tensor.dtype] = tensor.numel() * tensor.element_size()
        return tensor

    # Autocast on the CPU saves the bfloat16 tensors it would save on CUDA.
    precision = torch.autocast("cpu", dtype=torch.bfloat16, enabled=mixed_precision)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor), precision:
        net(torch.randn(batch_size, 5))
    # The stem's index buffers follow from its cardinalities and are not counted.
    n_values = sum(t.numel() for t in net.state_dict().values())
    n_trained = sum(p.numel() for p in net.parameters()) - sum(
        p.numel() for head in list(net.heads)[:-1] for p in head.parameters()
    )
    kept = 4 * (n_values + 2 * n_trained) + max(4 * n_trained, sum(saved.values()))
    assert network_bytes(**sizes, batch_size=batch_size) <= kept


def test_network_bytes_of_a_custom_block_counts_the_known_parts():
    custom = network_bytes(5, 12, None, 3, 4, 1)
    mlp = network_bytes(5, 12, 7, 3, 4, 1)
    assert 0 < custom < mlp
    assert network_bytes(5, 12, None, 3, 4, 10_000) > custom


def test_check_network_size_refuses_quickly_without_allocating():
    if (available_memory(CPU) or 0) > 833e9:
        pytest.skip("this machine has the 833 GB the network needs")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(ValueError) as raised:
        check_network_size(5, 10**7, 128, 20, 1, 256, CPU, n_blocks_name="n_estimators")
    assert time.perf_counter() - start < 1.0
    # ru_maxrss is in kB on Linux: the peak grew by less than 50 MB.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000
    message = str(raised.value)
    assert message.startswith("The network needs about 833.76 GB of memory"), message
    assert "GB is available on cpu" in message
    assert message.endswith(
        "lower width=10000000, hidden_size=128, n_estimators=20 or batch_size=256."
    )


def test_check_network_size_accepts_what_fits(monkeypatch):
    # The defaults take some 12 MB.
    n_bytes = check_network_size(5, 128, 128, 20, 1, 256, CPU)
    assert 10e6 < n_bytes < 20e6
    monkeypatch.setattr(_modules, "available_memory", lambda device: n_bytes)
    assert check_network_size(5, 128, 128, 20, 1, 256, CPU) == n_bytes
    monkeypatch.setattr(_modules, "available_memory", lambda device: n_bytes - 1)
    with pytest.raises(ValueError, match=r"^The network needs about 0\.012 GB of memory"):
        check_network_size(5, 128, 128, 20, 1, 256, CPU)
    monkeypatch.setattr(_modules, "available_memory", lambda device: 10**6)
    with pytest.raises(ValueError, match=r"only 0\.001 GB is available on cpu; lower width=128, "
                       r"hidden_size=128, n_blocks=20 or batch_size=256\.$"):
        check_network_size(5, 128, 128, 20, 1, 256, CPU)
    with pytest.raises(ValueError, match=r"lower width=128, n_blocks=20 or batch_size=10000\.$"):
        check_network_size(5, 128, None, 20, 1, 10_000, CPU)


def test_available_memory_of_the_cpu_and_its_fallbacks(monkeypatch):
    assert available_memory(CPU) > 0
    monkeypatch.setattr(_modules, "_MEMINFO", "/nonexistent/meminfo")
    if hasattr(os, "sysconf"):
        expected = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        assert abs(available_memory(CPU) - expected) < 1e9

    def unknown(name):
        raise ValueError(f"unrecognized configuration name {name}")

    monkeypatch.setattr(os, "sysconf", unknown, raising=False)
    assert available_memory(CPU) is None
    # Nothing is refused where the available memory is unknown.
    assert check_network_size(5, 10**7, 128, 20, 1, 256, CPU) > 1e11
    assert available_memory(torch.device("meta")) is None


def test_available_memory_of_a_cuda_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda index: (10**9, 8 * 10**9))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda index: 3 * 10**8)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda index: 10**8)
    # The cache torch holds unused is free to the new network.
    assert available_memory(torch.device("cuda")) == 12 * 10**8
    with pytest.raises(ValueError, match=r"only 1\.20 GB is available on cuda:0"):
        check_network_size(5, 10**5, 128, 20, 1, 256, torch.device("cuda", 0))


@pytest.mark.cuda
def test_network_size_estimate_is_below_a_training_step_on_cuda():
    device = torch.device("cuda", torch.cuda.current_device())
    sizes = {"n_features": 5, "width": 128, "hidden_size": 128, "n_blocks": 20, "n_outputs": 1}
    net = _network(**sizes).to(device)
    optimiser = torch.optim.AdamW(net.parameters())
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    start = torch.cuda.memory_allocated(device)
    # The second step has AdamW's moments from the first.
    for _ in range(2):
        optimiser.zero_grad()
        net(torch.randn(256, 5, device=device)).square().mean().backward()
        optimiser.step()
    torch.cuda.synchronize(device)
    # The network, before the step, is part of start; the estimate counts it too.
    used = torch.cuda.max_memory_allocated(device) - start + 4 * sum(
        t.numel() for t in [*net.parameters(), *net.buffers()]
    )
    assert network_bytes(**sizes, batch_size=256) <= used
