"""Torch modules: the stem, the residual blocks, the per-stage heads and the network."""

import torch
from torch import nn


class Stem(nn.Module):
    """Input normalisation learned in ``fit``, then a linear map to the residual width.

    Parameters
    ----------
    n_features : int
        Number of input features, >= 1.
    width : int
        Width of the residual stream, >= 1.
    noise : float, default=0.0
        Standard deviation of the Gaussian noise added to the standardised
        features in training mode, >= 0; the estimators' ``input_noise``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_resboost import Stem
    >>> stem = Stem(n_features=2, width=4)
    >>> stem.set_normalisation(center=[10.0, 1000.0], scale=[2.0, 500.0])
    >>> stem(torch.tensor([[10.0, 1000.0], [12.0, 500.0]])).shape
    torch.Size([2, 4])
    """

    def __init__(self, n_features, width, noise=0.0):
        super().__init__()
        self.noise = float(noise)
        self.register_buffer("center", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        self.linear = nn.Linear(n_features, width)

    def set_normalisation(self, center, scale):
        """Store the per-feature centre and scale computed from the training data."""
        self.center.copy_(torch.as_tensor(center, dtype=self.center.dtype))
        self.scale.copy_(torch.as_tensor(scale, dtype=self.scale.dtype))

    def forward(self, x):
        # Clipping keeps far out-of-range inputs (e.g. 1e30) finite after the
        # linear map; 1e4 standard deviations is never reached by real data.
        x = ((x.to(self.center.dtype) - self.center) / self.scale).clamp(-1e4, 1e4)
        if self.training and self.noise > 0:
            x = x + self.noise * torch.randn_like(x)
        return self.linear(x)


class MLPBlock(nn.Module):
    """Residual branch ``LayerNorm -> Linear -> activation -> Dropout -> Linear``.

    The boosted estimators zero its last layer, so that a new block is the
    identity of the residual stream when its boosting round begins.

    Parameters
    ----------
    width : int
        Width of the residual stream, >= 1.
    hidden_size : int
        Width of the hidden layer, >= 1.
    dropout : float
        Dropout probability in [0, 1).

    Examples
    --------
    >>> import torch
    >>> from sklearn_resboost import MLPBlock
    >>> block = MLPBlock(width=8, hidden_size=16)
    >>> block(torch.ones(3, 8)).shape
    torch.Size([3, 8])

    A custom residual branch for the estimators' ``block`` parameter is any
    callable that takes the width and returns such a module:

    >>> from sklearn_resboost import BoostResNetClassifier
    >>> clf = BoostResNetClassifier(block=lambda width: MLPBlock(width, 2 * width))
    """

    def __init__(self, width, hidden_size, dropout=0.0):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.linear1 = nn.Linear(width, hidden_size)
        self.activation = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(hidden_size, width)

    def forward(self, x):
        x = self.norm(x)
        x = self.dropout(self.activation(self.linear1(x)))
        return self.linear2(x)


def zero_last_layer(block):
    """Zero the weight and bias of the last parametrised layer of ``block``.

    Returns False when ``block`` has no layer with a ``weight`` parameter.
    """
    for module in reversed(list(block.modules())):
        weight = getattr(module, "weight", None)
        if isinstance(weight, nn.Parameter):
            with torch.no_grad():
                weight.zero_()
                bias = getattr(module, "bias", None)
                if isinstance(bias, nn.Parameter):
                    bias.zero_()
            return True
    return False


class ResNet(nn.Module):
    """A residual network with one linear head per stage.

    ``g_0 = stem(x)``, ``g_{t+1} = g_t + learning_rate * blocks[t](g_t)`` and the
    stage-``t`` scores are ``z_t = heads[t](g_t) * output_scale + output_offset``.
    ``forward`` returns the scores of the last stage. With ``skip=False`` the
    network is plain: ``g_{t+1} = blocks[t](g_t)``.

    Parameters
    ----------
    stem : Stem
        The input stem.
    n_outputs : int
        Number of scores per sample, >= 1.
    learning_rate : float
        Shrinkage ``nu`` applied to every residual branch, > 0.
    skip : bool
        Whether the blocks have skip connections.

    Examples
    --------
    Every fitted estimator of the package keeps its network in ``module_``:

    >>> import torch
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_resboost import BoostResNetClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = BoostResNetClassifier(n_estimators=2, width=16, hidden_size=16,
    ...                             epochs_per_block=2, device="cpu",
    ...                             random_state=0).fit(X, y)
    >>> net = clf.module_
    >>> net.n_blocks, len(net.heads)
    (2, 3)
    >>> x = torch.as_tensor(X[:5], dtype=torch.float32)
    >>> [tuple(z.shape) for z in net.staged_scores(x)]
    [(5, 3), (5, 3), (5, 3)]

    A network can also be assembled by hand, for a custom training loop:

    >>> from sklearn_resboost import MLPBlock, ResNet, Stem
    >>> net = ResNet(Stem(4, 8), n_outputs=3, learning_rate=0.5)
    >>> _ = net.blocks.append(MLPBlock(8, 16))
    >>> _ = net.heads.extend([torch.nn.Linear(8, 3), torch.nn.Linear(8, 3)])
    >>> net(x).shape
    torch.Size([5, 3])
    """

    def __init__(self, stem, n_outputs, learning_rate=1.0, skip=True):
        super().__init__()
        self.stem = stem
        self.blocks = nn.ModuleList()
        self.heads = nn.ModuleList()
        self.learning_rate = float(learning_rate)
        self.skip = bool(skip)
        self.register_buffer("output_scale", torch.ones(n_outputs))
        self.register_buffer("output_offset", torch.zeros(n_outputs))

    @property
    def n_blocks(self):
        """Number of residual blocks."""
        return len(self.blocks)

    def scores(self, head, g):
        """Scores of ``head`` on the representation ``g``, in output units."""
        return head(g) * self.output_scale + self.output_offset

    def step(self, k, g):
        """Apply block ``k`` to the representation ``g``."""
        if not self.skip:
            return self.blocks[k](g)
        return g + self.learning_rate * self.blocks[k](g)

    def representations(self, x):
        """Yield ``g_0, ..., g_T``."""
        g = self.stem(x)
        yield g
        for k in range(len(self.blocks)):
            g = self.step(k, g)
            yield g

    def staged_scores(self, x):
        """Yield the scores ``z_0, ..., z_T`` of every stage's head."""
        for head, g in zip(self.heads, self.representations(x)):
            yield self.scores(head, g)

    def forward(self, x):
        g = None
        for g in self.representations(x):
            pass
        return self.scores(self.heads[len(self.blocks)], g)


def make_block(block, width, hidden_size, dropout, zero_init=True):
    """Build one residual branch from the ``block`` parameter of an estimator.

    ``block`` is ``"mlp"`` (an :class:`MLPBlock`) or a callable mapping the
    width to a ``torch.nn.Module``. With ``zero_init`` the last parametrised
    layer starts at zero, so that the block starts as the identity of the
    residual stream; a plain network (no skip connections) must not do that,
    or its output would be constant.
    """
    if block == "mlp":
        module = MLPBlock(width, hidden_size, dropout)
    else:
        module = block(width)
        if not isinstance(module, nn.Module):
            raise ValueError(
                f"block must return a torch.nn.Module; block({width}) returned "
                f"{type(module).__name__}."
            )
    if zero_init and not zero_last_layer(module):
        raise ValueError(
            "The module returned by block has no layer with a 'weight' parameter "
            "to zero-initialise; a new block must start as the identity."
        )
    return module
