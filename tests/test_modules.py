"""The torch modules: stem normalisation, blocks, the staged network."""

import numpy as np
import pytest
import torch

from sklearn_resboost._modules import MLPBlock, ResNet, Stem, make_block, zero_last_layer


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
