"""Torch modules: the stem, the residual blocks, the per-stage heads and the network."""

import copy
import itertools
import os

import numpy as np
import torch
from torch import nn

# The most bins of a numeric feature's piecewise-linear encoding the estimators
# take: far more than its quantiles can resolve on most tables.
MAX_NUMERIC_BINS = 256
# Standardised inputs are clipped to this many spreads, so that far
# out-of-range inputs (e.g. 1e30) stay finite after the stem's maps; real data
# never reaches it.
STANDARDISED_CLIP = 1e4


def standardised(x, center, scale):
    """``x`` in float32, its NaN mask and its clipped standardised values ``z``."""
    x = x.to(center.dtype)
    z = ((x - center) / scale).clamp(-STANDARDISED_CLIP, STANDARDISED_CLIP)
    return x, torch.isnan(x), z


class Stem(nn.Module):
    """Input normalisation learned in ``fit``, then a linear map to the residual width.

    Numeric features are standardised and mapped linearly; a missing value
    (NaN) adds the feature's learned ``missing`` vector instead. A
    categorical feature (``cardinalities[j] > 0``) holds category codes (see
    :func:`sklearn_resboost.BoostResNetClassifier.encode_inputs`) and adds the
    learned vector of its code, an embedding into the residual width: the same
    map as a one-hot encoding followed by the linear layer. The vectors of a
    feature are centred on their mean under the training frequencies, and a
    code no training row had (a category seen only in prediction, when no
    category was infrequent in ``fit``) adds nothing: a value the network never
    saw enters as the training average, as a missing value of a feature that
    had none in ``fit`` does.

    With ``numeric_bins``, every numeric feature also enters through a
    piecewise-linear encoding (Gorishniy et al., "On Embeddings for
    Numerical Features in Tabular Deep Learning", NeurIPS 2022): its
    standardised value ``z`` is cut at learned bin edges (see
    :meth:`set_normalisation`) and bin ``b`` of ``[left_b, left_b + width_b]``
    reads ``clamp((z - left_b) / width_b, 0, 1)``, the first bin unclamped
    below and the last one above; the stem adds the bins' values times their
    learned vectors ``ple[j, b]``. A feature without edges and a categorical
    one add nothing through it; a missing value is encoded as the training
    mean, as the linear map reads it.

    Parameters
    ----------
    n_features : int
        Number of input features, >= 1.
    width : int
        Width of the residual stream, >= 1.
    noise : float, default=0.0
        Standard deviation of the Gaussian noise added to the standardised
        numeric features in training mode, >= 0; the estimators' ``input_noise``.
    cardinalities : sequence of int, default=None
        Per feature, 0 for a numeric one, else the number of codes of a
        categorical one (>= 1). None: all features are numeric.
    numeric_bins : int or None, default=None
        Largest number of bins of a numeric feature's piecewise-linear
        encoding, >= 1; the estimators' ``numeric_bins``. None: no encoding.

    Examples
    --------
    >>> import torch
    >>> from sklearn_resboost import Stem
    >>> stem = Stem(n_features=2, width=4)
    >>> stem.set_normalisation(center=[10.0, 1000.0], scale=[2.0, 500.0])
    >>> stem(torch.tensor([[10.0, 1000.0], [12.0, float("nan")]])).shape
    torch.Size([2, 4])

    A numeric feature and a categorical one with 3 codes:

    >>> stem = Stem(n_features=2, width=4, cardinalities=[0, 3])
    >>> stem.set_normalisation([0.0, 0.0], [1.0, 1.0], frequency=[0.0, 0.5, 0.5])
    >>> stem(torch.tensor([[0.5, 1.0], [1.5, 2.0]])).shape
    torch.Size([2, 4])

    Two bins per numeric feature, the edges of the first one given:

    >>> stem = Stem(n_features=2, width=4, numeric_bins=2)
    >>> stem.set_normalisation([0.0, 0.0], [1.0, 1.0], edges=[[-1.0, 0.0, 1.0], []])
    >>> stem.encoding(torch.tensor([[0.5, 3.0], [2.0, 0.0]]))[:, 0]
    tensor([[1.0000, 0.5000],
            [1.0000, 2.0000]])
    """

    def __init__(self, n_features, width, noise=0.0, cardinalities=None, numeric_bins=None):
        super().__init__()
        self.noise = float(noise)
        cards = [0] * n_features if cardinalities is None else [int(c) for c in cardinalities]
        if len(cards) != n_features or any(c < 0 for c in cards):
            raise ValueError(
                f"cardinalities must give n_features={n_features} counts >= 0; got {cards}."
            )
        if numeric_bins is not None and int(numeric_bins) < 1:
            raise ValueError(f"numeric_bins must be None or >= 1; got {numeric_bins!r}.")
        self.cardinalities = tuple(cards)
        self.numeric_bins = None if numeric_bins is None else int(numeric_bins)
        self.register_buffer("center", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        self.linear = nn.Linear(n_features, width)
        self.missing = nn.Parameter(torch.zeros(n_features, width))
        self._derived_buffers()
        n_codes = sum(cards)
        self.embedding = nn.Parameter(torch.empty(n_codes, width))
        self.register_buffer("frequency", torch.zeros(n_codes))
        if n_codes:
            bound = 1.0 / n_features**0.5
            with torch.no_grad():
                nn.init.uniform_(self.embedding, -bound, bound)
                self.linear.weight[:, self.categorical_columns] = 0.0
        if self.numeric_bins is not None:
            # Drawn last, so that a stem without the encoding draws what it always did.
            shape = (n_features, self.numeric_bins)
            self.ple = nn.Parameter(torch.empty(*shape, width))
            bound = 1.0 / (n_features * self.numeric_bins) ** 0.5
            with torch.no_grad():
                nn.init.uniform_(self.ple, -bound, bound)
            # Until set_normalisation gives edges, no bin is used; an unused bin
            # keeps left 0 and width 1, so that it divides by no zero.
            self.register_buffer("ple_left", torch.zeros(shape))
            self.register_buffer("ple_width", torch.ones(shape))
            self.register_buffer("ple_mask", torch.zeros(shape))

    def _derived_buffers(self):
        # Index tensors that follow from the cardinalities, not saved with the
        # state; built on the CPU even when the stem is built on the meta device.
        cards = self.cardinalities
        counts = [c for c in cards if c]
        offsets = list(itertools.accumulate(counts, initial=0))[:-1]
        feature = [k for k, c in enumerate(counts) for _ in range(c)]
        for name, values, dtype in (
            ("numeric", [c == 0 for c in cards], torch.bool),
            ("categorical_columns", [j for j, c in enumerate(cards) if c], torch.long),
            ("code_offsets", offsets, torch.long),
            ("code_feature", feature, torch.long),
        ):
            tensor = torch.tensor(values, dtype=dtype, device="cpu")
            self.register_buffer(name, tensor, persistent=False)
        if self.numeric_bins is not None:
            # Every bin but the first is clamped at 0 from below.
            lower = torch.arange(self.numeric_bins, device="cpu") > 0
            self.register_buffer("ple_lower", lower, persistent=False)

    def __setstate__(self, state):
        # A stem pickled before the piecewise-linear encoding has none.
        state.setdefault("numeric_bins", None)
        # A stem pickled before missing values and categories were supported.
        super().__setstate__(state)
        if "missing" not in self._parameters:
            n_features, width = self.center.numel(), self.linear.out_features
            device = self.center.device
            self.cardinalities = (0,) * n_features
            self.missing = nn.Parameter(torch.zeros(n_features, width, device=device))
            self.embedding = nn.Parameter(torch.empty(0, width, device=device))
            self.register_buffer("frequency", torch.zeros(0, device=device))
            self._derived_buffers()
            for name, buffer in self._buffers.items():
                self._buffers[name] = buffer.to(device)

    def set_normalisation(self, center, scale, frequency=None, edges=None):
        """Store the per-feature centre and scale and the code frequencies of the training data.

        ``frequency`` gives every categorical feature's codes their share of
        the training rows, one array over all codes in feature order; None
        when all features are numeric. ``edges`` gives every feature the
        increasing bin edges of its piecewise-linear encoding, in
        standardised units: up to ``numeric_bins + 1`` values, none (or a
        single one) for a feature without bins, as a categorical one always
        is; None keeps the stored ones. It needs ``numeric_bins``.
        """
        self.center.copy_(torch.as_tensor(center, dtype=self.center.dtype))
        self.scale.copy_(torch.as_tensor(scale, dtype=self.scale.dtype))
        if frequency is not None:
            self.frequency.copy_(torch.as_tensor(frequency, dtype=self.frequency.dtype))
        if edges is not None:
            self._set_edges(edges)

    def _set_edges(self, edges):
        if self.numeric_bins is None:
            raise ValueError("The stem has no piecewise-linear encoding (numeric_bins=None).")
        if len(edges) != self.n_features:
            raise ValueError(
                f"edges must give n_features={self.n_features} arrays; got {len(edges)}."
            )
        shape = (self.n_features, self.numeric_bins)
        left, width, mask = np.zeros(shape), np.ones(shape), np.zeros(shape)
        for j, feature_edges in enumerate(edges):
            feature_edges = np.asarray(feature_edges, dtype=np.float64)
            n_bins = max(len(feature_edges) - 1, 0)
            if n_bins > self.numeric_bins or not np.all(np.diff(feature_edges) > 0):
                raise ValueError(
                    f"edges[{j}] must be at most numeric_bins + 1 = {self.numeric_bins + 1} "
                    f"increasing values; got {feature_edges.tolist()}."
                )
            if n_bins and not self.cardinalities[j]:
                left[j, :n_bins] = feature_edges[:-1]
                width[j, :n_bins] = np.diff(feature_edges)
                mask[j, :n_bins] = 1.0
        self.ple_left.copy_(torch.as_tensor(left, dtype=self.ple_left.dtype))
        self.ple_width.copy_(torch.as_tensor(width, dtype=self.ple_width.dtype))
        self.ple_mask.copy_(torch.as_tensor(mask, dtype=self.ple_mask.dtype))

    @property
    def n_features(self):
        """Number of input features."""
        return self.linear.in_features

    @property
    def width(self):
        """Width of the residual stream."""
        return self.linear.out_features

    def code_vectors(self):
        """Every code's vector as it enters the residual stream, shape ``(n_codes, width)``.

        The learned embedding less its feature's mean under the training
        frequencies; zero for a code no training row had.
        """
        n_categorical = self.categorical_columns.numel()
        weighted = self.embedding * self.frequency[:, None]
        means = weighted.new_zeros(n_categorical, weighted.shape[1])
        means = means.index_add(0, self.code_feature, weighted)
        seen = (self.frequency > 0).to(self.embedding.dtype)[:, None]
        return (self.embedding - means[self.code_feature]) * seen

    def encoding(self, x):
        """The piecewise-linear encoding of raw inputs, shape ``(n, n_features, numeric_bins)``.

        In evaluation mode, without input noise; a missing value is encoded
        as the training mean (``z = 0``), as the linear map reads it; zero for
        a categorical feature and a bin the feature does not use.
        """
        if self.numeric_bins is None:
            raise ValueError("The stem has no piecewise-linear encoding (numeric_bins=None).")
        _, missing, z = standardised(x, self.center, self.scale)
        return self._encode(torch.where(missing | ~self.numeric, 0.0, z))

    def _encode(self, z):
        t = (z[:, :, None] - self.ple_left) / self.ple_width
        t = torch.where(self.ple_lower, t.clamp(min=0.0), t)
        # Bins are used from the first on: a bin followed by a used one is not
        # its feature's last, and is clamped at 1 from above. The last bin is
        # not, so that values beyond the training range keep moving the output.
        followed = nn.functional.pad(self.ple_mask[:, 1:], (0, 1)) > 0
        t = torch.where(followed, t.clamp(max=1.0), t)
        return t * self.ple_mask

    def forward(self, x):
        x, missing, z = standardised(x, self.center, self.scale)
        if self.training and self.noise > 0:
            z = z + self.noise * torch.randn_like(z)
        z = torch.where(missing | ~self.numeric, 0.0, z)
        out = self.linear(z) + missing.to(z.dtype) @ self.missing
        if self.numeric_bins is not None:
            # A missing value is encoded as the mean, so that a feature
            # complete in fit reads a NaN as its training mean.
            bins = self._encode(z)
            out = out + bins.flatten(1) @ self.ple.flatten(0, 1)
        if self.embedding.shape[0]:
            codes = x[:, self.categorical_columns].long() + self.code_offsets
            # One bag of codes per row: a fused gather and sum, about twice as
            # fast as indexing then summing, backward included.
            out = out + nn.functional.embedding_bag(codes, self.code_vectors(), mode="sum")
        return out


class ConvStem(nn.Module):
    """Input normalisation learned in ``fit``, then a 3x3 convolution to ``width`` channels.

    A row of ``C * H * W`` features is a flattened image of shape
    ``image_shape = (C, H, W)`` (C-order, as ``numpy.reshape`` flattens).
    Every pixel is standardised with its own learned centre and scale; a
    missing value (NaN) enters as 0, the training mean, and a mask channel
    per input channel marks it, so that the convolution learns what a
    missing pixel means. The output is the residual stream of a
    convolutional network, shape ``(n, width, H, W)``.

    Parameters
    ----------
    image_shape : tuple of int
        ``(C, H, W)``, each >= 1.
    width : int
        Number of channels of the residual stream, >= 1.
    noise : float, default=0.0
        Standard deviation of the Gaussian noise added to the standardised
        pixels in training mode, >= 0; the estimators' ``input_noise``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_resboost import ConvStem
    >>> stem = ConvStem((1, 4, 4), width=8)
    >>> stem(torch.rand(3, 16)).shape
    torch.Size([3, 8, 4, 4])
    """

    def __init__(self, image_shape, width, noise=0.0):
        super().__init__()
        self.image_shape = tuple(int(d) for d in image_shape)
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape must be (C, H, W), each >= 1; got {image_shape}.")
        self.noise = float(noise)
        n_features = int(np.prod(self.image_shape))
        # Numeric features only: the estimators refuse categorical ones.
        self.cardinalities = (0,) * n_features
        self.register_buffer("center", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        self.conv = nn.Conv2d(2 * self.image_shape[0], width, 3, padding=1)

    @property
    def n_features(self):
        """Number of input features, ``C * H * W``."""
        return self.center.numel()

    @property
    def width(self):
        """Number of channels of the residual stream."""
        return self.conv.out_channels

    def set_normalisation(self, center, scale, frequency=None):
        """Store the per-pixel centre and scale of the training data (``frequency`` is unused)."""
        self.center.copy_(torch.as_tensor(center, dtype=self.center.dtype))
        self.scale.copy_(torch.as_tensor(scale, dtype=self.scale.dtype))

    def forward(self, x):
        x, missing, z = standardised(x, self.center, self.scale)
        if self.training and self.noise > 0:
            z = z + self.noise * torch.randn_like(z)
        z = torch.where(missing, 0.0, z)
        image = torch.cat([z, missing.to(z.dtype)], dim=1)
        channels, height, width = self.image_shape
        return self.conv(image.view(len(x), 2 * channels, height, width))


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


# The strides of a ConvBlock: 1 keeps the resolution, 2 downsamples.
STRIDES = (1, 2)


class ConvBlock(nn.Module):
    """Pre-activation basic block: ``(GroupNorm -> ReLU -> 3x3 Conv)`` twice.

    The residual branch of a convolutional network (He et al., "Identity
    Mappings in Deep Residual Networks", 2016), with dropout before the second
    convolution. The norms are ``GroupNorm`` with one group, which normalises
    each image over its channels and pixels: unlike batch normalisation it
    does not depend on the batch, so that a block computes the same in
    training and in prediction. The boosted estimators zero the second
    convolution, so that a new block is the identity of the residual stream
    when its boosting round begins.

    With ``stride=2`` the block downsamples: its first convolution has stride
    2, its output has twice the channels and half the height and width
    (rounded up), and its skip connection is :meth:`shortcut`, average
    pooling and zero channels, which has no parameters and is linear, so that
    the residual stream stays a sum and the decompositions stay exact.

    Parameters
    ----------
    width : int
        Number of channels of the block's input, >= 1.
    hidden_size : int
        Number of channels between the two convolutions, >= 1.
    dropout : float, default=0.0
        Dropout probability in [0, 1).
    stride : {1, 2}, default=1
        2 for a downsampling block.

    Examples
    --------
    >>> import torch
    >>> from sklearn_resboost import ConvBlock
    >>> block = ConvBlock(width=8, hidden_size=16)
    >>> block(torch.ones(3, 8, 5, 5)).shape
    torch.Size([3, 8, 5, 5])
    >>> down = ConvBlock(width=8, hidden_size=16, stride=2)
    >>> down(torch.ones(3, 8, 5, 5)).shape, down.shortcut(torch.ones(3, 8, 5, 5)).shape
    (torch.Size([3, 16, 3, 3]), torch.Size([3, 16, 3, 3]))
    """

    def __init__(self, width, hidden_size, dropout=0.0, stride=1):
        super().__init__()
        if stride not in STRIDES:
            raise ValueError(f"stride must be 1 or 2; got {stride!r}.")
        self.stride = int(stride)
        self.norm1 = nn.GroupNorm(1, width)
        self.activation = nn.ReLU()
        self.conv1 = nn.Conv2d(width, hidden_size, 3, stride=self.stride, padding=1)
        self.norm2 = nn.GroupNorm(1, hidden_size)
        self.dropout = nn.Dropout(dropout)
        # Registered last: zero_last_layer zeroes it.
        self.conv2 = nn.Conv2d(hidden_size, self.stride * width, 3, padding=1)

    def __setstate__(self, state):
        # A block pickled before downsampling blocks existed.
        state.setdefault("stride", 1)
        super().__setstate__(state)

    def forward(self, g):
        h = self.conv1(self.activation(self.norm1(g)))
        return self.conv2(self.dropout(self.activation(self.norm2(h))))

    def shortcut(self, g):
        """The skip connection: ``g`` itself, or for ``stride=2`` its 2x2 means and zero channels.

        A window cut by an odd border averages the pixels it holds.
        """
        if self.stride == 1:
            return g
        pooled = nn.functional.avg_pool2d(g, 2, ceil_mode=True)
        return nn.functional.pad(pooled, (0, 0, 0, 0, 0, pooled.shape[1]))


def block_strides(strides, n_blocks):
    """The strides of blocks ``0, ..., n_blocks - 1``: ``strides``, then 1 past its end."""
    strides = tuple(strides)[:n_blocks]
    return strides + (1,) * (n_blocks - len(strides))


def conv_stage_shapes(image_shape, width, strides):
    """The shapes ``(channels, H, W)`` of ``g_0, ..., g_T`` for blocks of ``strides``.

    ``g_0`` has ``width`` channels at the image's resolution; a stride-2 block
    doubles the channels and halves the height and width, rounding up.
    """
    shapes = [(int(width), int(image_shape[1]), int(image_shape[2]))]
    for stride in strides:
        channels, height, image_width = shapes[-1]
        if stride == 2:
            channels, height, image_width = 2 * channels, -(-height // 2), -(-image_width // 2)
        shapes.append((channels, height, image_width))
    return shapes


def conv_block_sizes(shapes, t, width, hidden_size):
    """Input and hidden channels of block ``t`` of a network of stage ``shapes``.

    The hidden channels grow with the block's output channels, ``hidden_size``
    being those of a block that outputs ``width`` channels.
    """
    return shapes[t][0], hidden_size * shapes[t + 1][0] // width


class ConvHead(nn.Linear):
    """Global average pooling, then a linear map: the head of a convolutional network.

    Linear overall, so that the feature and hypothesis decompositions of
    :class:`ResNet` stay exact. It has the tensors of ``torch.nn.Linear``
    (``weight`` of shape ``(out_features, in_features)``, ``bias``).

    Parameters
    ----------
    in_features : int
        Number of channels of the representation, >= 1.
    out_features : int
        Number of scores, >= 1.
    bias : bool, default=True
        Whether the map has a bias.
    device : torch.device, default=None
        Device of the parameters.
    dtype : torch.dtype, default=None
        Dtype of the parameters.

    Examples
    --------
    >>> import torch
    >>> from sklearn_resboost import ConvHead
    >>> ConvHead(8, 3)(torch.ones(2, 8, 4, 4)).shape
    torch.Size([2, 3])
    """

    @staticmethod
    def pool(g):
        """The mean over the pixels of ``g``, shape ``(n, channels)``."""
        return g.mean(dim=(2, 3))

    def forward(self, g):
        return super().forward(self.pool(g))


class FlattenHead(ConvHead):
    """A linear map of every pixel of every channel: the head that keeps where things are.

    The head of a convolutional network for ``head_pooling="flatten"``:
    ``in_features`` is ``channels * H * W``. On small images (8x8 digits)
    global average pooling discards the position of the strokes, which
    only deep or downsampling networks recover; this head reads it
    directly, and is linear like :class:`ConvHead`.

    Parameters
    ----------
    in_features : int
        Number of values of the representation, ``channels * H * W``, >= 1.
    out_features : int
        Number of scores, >= 1.
    bias : bool, default=True
        Whether the map has a bias.
    device : torch.device, default=None
        Device of the parameters.
    dtype : torch.dtype, default=None
        Dtype of the parameters.

    Examples
    --------
    >>> import torch
    >>> from sklearn_resboost import FlattenHead
    >>> FlattenHead(8 * 4 * 4, 3)(torch.ones(2, 8, 4, 4)).shape
    torch.Size([2, 3])
    """

    @staticmethod
    def pool(g):
        """``g`` with its channels and pixels in one axis, shape ``(n, channels * H * W)``."""
        return g.flatten(1)


def state_shapes(module):
    """The names and shapes of ``module``'s tensors, ``{name: shape}``."""
    return {name: tuple(tensor.shape) for name, tensor in module.state_dict().items()}


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


def carried_head(head, block, shape):
    """A copy of ``head`` that reads ``block.shortcut(g)`` as ``head`` reads ``g``.

    A boosting round starts its new head from the previous one. After a
    downsampling block the representation ``g`` of shape ``shape``
    (``(channels, H, W)``) changes shape: a :class:`ConvHead` keeps its
    weights on the old channels and reads zero on the new ones, which is
    exact when ``H`` and ``W`` are even; a :class:`FlattenHead` gives each
    pooled pixel the sum of the weights of the pixels it averages, which is
    exact where ``g`` is constant on each 2x2 window. A block that keeps the
    shape gives a copy.
    """
    if getattr(block, "stride", 1) == 1:
        return copy.deepcopy(head)
    channels, height, image_width = shape
    weight = head.weight.detach()
    n_outputs = weight.shape[0]
    if isinstance(head, FlattenHead):
        weight = weight.view(n_outputs, channels, height, image_width)
        weight = nn.functional.pad(weight, (0, image_width % 2, 0, height % 2))
        weight = weight.unflatten(3, (-1, 2)).unflatten(2, (-1, 2)).sum(dim=(3, 5))
        weight = nn.functional.pad(weight, (0, 0, 0, 0, 0, channels)).flatten(1)
    else:
        weight = nn.functional.pad(weight, (0, channels))
    carried = type(head)(weight.shape[1], n_outputs).to(weight.device, weight.dtype)
    with torch.no_grad():
        carried.weight.copy_(weight)
        carried.bias.copy_(head.bias)
    return carried


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

    def skip_path(self, k, g):
        """The skip connection of block ``k`` applied to ``g``.

        ``g`` itself, or a downsampling :class:`ConvBlock`'s parameter-free
        :meth:`~ConvBlock.shortcut`.
        """
        shortcut = getattr(self.blocks[k], "shortcut", None)
        return g if shortcut is None else shortcut(g)

    def step(self, k, g):
        """Apply block ``k`` to the representation ``g``."""
        if not self.skip:
            return self.blocks[k](g)
        return self.skip_path(k, g) + self.learning_rate * self.blocks[k](g)

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

    def stage(self, x, t):
        """Representation ``g_t`` of raw inputs and its head-``t`` scores, in head units."""
        g = self.stem(x)
        for k in range(t):
            g = self.step(k, g)
        return g, self.heads[t](g)

    def scores_through(self, x, blocks):
        """Final-head scores when ``g_0`` passes through ``blocks`` in that order.

        ``range(T)`` is the network itself; leaving a block out deletes it,
        ``g_{k+1}`` is its skip connection of ``g_k`` (``g_k`` itself, unless
        the block downsamples); a permutation reorders the blocks while the
        final head stays last.
        """
        blocks = list(blocks)
        g = self.stem(x)
        if blocks == sorted(set(blocks)):
            kept = set(blocks)
            for k in range(self.n_blocks):
                g = self.step(k, g) if k in kept else self.skip_path(k, g)
        else:
            for k in blocks:
                g = self.step(k, g)
        return self.scores(self.heads[self.n_blocks], g)

    def carried(self, t, g):
        """``g_t`` carried to the final stage's shape through the skips of blocks ``t, ..., T-1``.

        The identity unless blocks from ``t`` on downsample; the skips are
        linear, so that differences of carried representations telescope.
        """
        for k in range(t, self.n_blocks):
            g = self.skip_path(k, g)
        return g

    def contributions(self, x, kind):
        """Per-stage shares of the final scores: a float64 NumPy array ``(T + 1, n, K)``.

        They sum over stages to ``forward(x)``. ``kind="hypothesis"`` is the
        boosting view: the prior ``z_0`` and the weak hypotheses
        ``h_t = z_{t+1} - z_t``. ``kind="feature"`` is the ResNet view, read
        through the final head ``(W_T, b_T)``: ``b_T + W_T g_0`` and
        ``W_T (g_{t+1} - g_t)`` (``nu W_T f_t(g_t)`` with skip connections;
        the differences keep the sum exact for a plain network too; a
        :class:`ConvHead` reads the pooled representations; after a
        downsampling block, each ``g_t`` is read carried to the final shape
        by :meth:`carried`). Both are
        computed on the host in float64 on every device: a float32 sum would
        round the bias of a regressor with a large offset.
        """
        if kind == "hypothesis":
            stages = torch.stack(list(self.staged_scores(x))).double().cpu().numpy()
            return np.concatenate([stages[:1], np.diff(stages, axis=0)])
        head = self.heads[self.n_blocks]
        scale = self.output_scale.double().cpu().numpy()
        weight = head.weight.detach().double().cpu().numpy().T * scale
        bias = (
            head.bias.detach().double() * self.output_scale.double()
            + self.output_offset.double()
        ).cpu().numpy()
        pool = getattr(head, "pool", lambda g: g)
        gs = [
            pool(self.carried(t, g.double())).cpu().numpy()
            for t, g in enumerate(self.representations(x))
        ]
        parts = [gs[0] @ weight + bias]
        parts += [(after - before) @ weight for before, after in zip(gs, gs[1:])]
        return np.stack(parts)

    def forward(self, x):
        return self.scores_through(x, range(self.n_blocks))


# Rows of the batch a custom block is checked on: more than one, so that a block
# that reduces or drops the batch axis is caught.
_PROBE_ROWS = 2


def check_block(module, width):
    """Refuse a custom residual branch that does not map ``(n, width)`` to ``(n, width)``.

    The module runs once on a batch of ones, without gradients, in evaluation
    mode and under a forked random state: the check changes neither the
    module (no batch statistics are updated, the training mode of every
    submodule is restored) nor the random numbers of the caller, whose seeded
    fit would otherwise draw different numbers. It runs on the device of the
    module's first parameter or buffer, the CPU for a module without any.

    Parameters
    ----------
    module : torch.nn.Module
        The module returned by the estimator's ``block(width)``.
    width : int
        Width of the residual stream, >= 1.

    Raises
    ------
    ValueError
        If the module raises on the probe batch, or returns anything but a
        float32 tensor of shape ``(n, width)``.
    """
    tensor = next(itertools.chain(module.parameters(), module.buffers()), None)
    device = torch.device("cpu") if tensor is None else tensor.device
    rng_devices = [device.index] if device.type == "cuda" else []
    modes = [(submodule, submodule.training) for submodule in module.modules()]
    problem = None
    try:
        module.eval()
        with torch.no_grad(), torch.random.fork_rng(devices=rng_devices):
            output = module(torch.ones(_PROBE_ROWS, width, device=device))
    except Exception as exc:
        # Whatever the user's module raises is what the message must show.
        problem = f"raised {type(exc).__name__}: {exc}"
    else:
        if not isinstance(output, torch.Tensor):
            problem = f"returned {type(output).__name__}, not a tensor"
        elif tuple(output.shape) != (_PROBE_ROWS, width):
            problem = f"returned shape {tuple(output.shape)}"
        elif output.dtype != torch.float32:
            problem = f"returned dtype {output.dtype}"
    finally:
        for submodule, training in modes:
            submodule.training = training
    if problem is not None:
        raise ValueError(
            "block must return a torch.nn.Module mapping float32 inputs of shape "
            f"(n_samples, width) to float32 outputs of the same shape; on inputs of "
            f"shape ({_PROBE_ROWS}, {width}) the module of block({width}) {problem}."
        )


def make_block(block, width, hidden_size, dropout, zero_init=True, stride=1):
    """Build one residual branch from the ``block`` parameter of an estimator.

    ``block`` is ``"mlp"`` (an :class:`MLPBlock`), ``"conv"`` (a
    :class:`ConvBlock` of ``stride``, the only block that downsamples) or a
    callable mapping the
    width to a ``torch.nn.Module``, which :func:`check_block` runs on a probe
    batch. With ``zero_init`` the last parametrised layer starts at zero, so
    that the block starts as the identity of the residual stream; a plain
    network (no skip connections) must not do that, or its output would be
    constant.
    """
    if block == "mlp":
        module = MLPBlock(width, hidden_size, dropout)
    elif block == "conv":
        module = ConvBlock(width, hidden_size, dropout, stride)
    else:
        module = block(width)
        if not isinstance(module, nn.Module):
            raise ValueError(
                f"block must return a torch.nn.Module; block({width}) returned "
                f"{type(module).__name__}."
            )
        check_block(module, width)
    if zero_init and not zero_last_layer(module):
        raise ValueError(
            "The module returned by block has no layer with a 'weight' parameter "
            "to zero-initialise; a new block must start as the identity."
        )
    return module


# Linux's memory statistics, for the memory a new network may take on the CPU.
_MEMINFO = "/proc/meminfo"


def available_memory(device):
    """Bytes of memory a new network can take on ``device``, or None when unknown.

    On the CPU: the available physical memory (``MemAvailable`` of
    ``/proc/meminfo``, else the free pages of ``os.sysconf``); on CUDA: the
    device's free memory plus what torch's caching allocator holds unused.

    Parameters
    ----------
    device : torch.device
        The device the network would be trained on.

    Returns
    -------
    n_bytes : int or None
        None when the platform tells neither, or for other device types.
    """
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        free, _ = torch.cuda.mem_get_info(index)
        return free + torch.cuda.memory_reserved(index) - torch.cuda.memory_allocated(index)
    if device.type != "cpu":
        return None
    try:
        with open(_MEMINFO) as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def network_bytes(
    n_features,
    width,
    hidden_size,
    n_blocks,
    n_outputs,
    batch_size,
    n_trained_blocks=None,
    image_shape=None,
    strides=(),
):
    """A lower bound on the memory that training a network takes, in bytes.

    Counts the float32 values of the network (stem without the vectors of
    categories, blocks, heads, buffers), AdamW's two moments of the trained
    parameters, and the larger of their
    gradients and the activations of one batch that backpropagation keeps:
    all activations are alive when the backward pass starts, all gradients
    when it ends. Only activations the layers must keep are counted, at 2
    bytes a value, their size under mixed precision: the input and the
    output of every trained :class:`MLPBlock`'s LayerNorm and its hidden
    layer, the final head's input and, end to end, the stem's input. Copies
    the trainers make (best epoch, weight averages), the data and torch's
    own overhead are left out, so a network the estimate refuses cannot
    fit.

    Parameters
    ----------
    n_features : int
        Number of input features.
    width : int
        Width of the residual stream.
    hidden_size : int or None
        Hidden width of the :class:`MLPBlock` blocks; None for a custom
        ``block``, whose parameters and activations are not counted.
    n_blocks : int
        Number of residual blocks of the network.
    n_outputs : int
        Number of scores per sample.
    batch_size : int
        Rows of a training batch.
    n_trained_blocks : int, default=None
        None trains the whole network end to end: the stem, every block and
        the final head. An int is a boosting round of the full network, which
        trains that many blocks and a head on cached representations.
    image_shape : tuple of int, default=None
        ``(C, H, W)`` of a convolutional network (:class:`ConvStem` and
        :class:`ConvBlock` blocks), whose activations are counted at every
        pixel; None for an MLP network.
    strides : sequence of {1, 2}, default=()
        The strides of a convolutional network's first blocks, the others
        being 1 (see :class:`ConvBlock`). A boosting round is counted for its
        smallest block.

    Returns
    -------
    n_bytes : int
        The estimate.
    """
    end_to_end = n_trained_blocks is None
    if end_to_end:
        n_trained_blocks = n_blocks
    if image_shape is not None:
        return _conv_network_bytes(
            image_shape, width, hidden_size, n_blocks, n_outputs, batch_size,
            n_trained_blocks, end_to_end, strides,
        )  # fmt: skip
    # LayerNorm (2 * width), linear1 (width x hidden_size + bias), linear2.
    block = 0 if hidden_size is None else 2 * width * hidden_size + hidden_size + 3 * width
    head = width * n_outputs + n_outputs
    # The linear map and the missing-value vectors; category vectors are not counted.
    stem = 2 * n_features * width + width
    buffers = 2 * n_features + 2 * n_outputs
    stored = stem + n_blocks * block + (n_blocks + 1) * head + buffers
    trained = (stem if end_to_end else 0) + n_trained_blocks * block + head
    row_values = width + (n_features if end_to_end else 0)
    if hidden_size is not None:
        row_values += n_trained_blocks * (2 * width + hidden_size)
    return 4 * (stored + 2 * trained) + max(4 * trained, 2 * batch_size * row_values)


def _conv_network_bytes(
    image_shape,
    width,
    hidden_size,
    n_blocks,
    n_outputs,
    batch_size,
    n_trained_blocks,
    end_to_end,
    strides,
):
    """:func:`network_bytes` of a convolutional network, counted the same way."""
    channels = image_shape[0]
    strides = block_strides(strides, n_blocks)
    shapes = conv_stage_shapes(image_shape, width, strides)
    blocks = []
    for t, stride in enumerate(strides):
        inputs, hidden = conv_block_sizes(shapes, t, width, hidden_size)
        outputs, (_, height, image_width) = shapes[t + 1][0], shapes[t]
        # Two GroupNorms, two 3x3 convolutions with biases.
        parameters = 9 * hidden * (inputs + outputs) + 3 * hidden + 2 * inputs + outputs
        # Per row: each norm's input and output, the hidden channels.
        pixels = height * image_width
        activations = 2 * inputs * pixels + 2 * hidden * pixels // stride**2
        blocks.append((parameters, activations))
    # Heads of average pooling, the smaller kind.
    heads = [n_outputs * shape[0] + n_outputs for shape in shapes]
    stem = 18 * channels * width + width
    buffers = 2 * int(np.prod(image_shape)) + 2 * n_outputs
    stored = stem + sum(p for p, _ in blocks) + sum(heads) + buffers
    if end_to_end:
        trained_blocks = blocks
    else:
        trained_blocks = sorted(blocks)[:n_trained_blocks]
    trained = (stem if end_to_end else 0) + sum(p for p, _ in trained_blocks) + min(heads)
    # The final head's input; end to end, the stem's input and mask.
    row_values = int(np.prod(shapes[-1])) + sum(a for _, a in trained_blocks)
    row_values += 2 * int(np.prod(image_shape)) if end_to_end else 0
    return 4 * (stored + 2 * trained) + max(4 * trained, 2 * batch_size * row_values)


def _gigabytes(n_bytes):
    """``n_bytes`` in GB: two decimals, or three significant digits below 1 GB."""
    gb = n_bytes / 1e9
    return f"{gb:,.2f}" if gb >= 1 else f"{gb:.3g}"


def check_network_size(
    n_features,
    width,
    hidden_size,
    n_blocks,
    n_outputs,
    batch_size,
    device,
    *,
    n_trained_blocks=None,
    n_blocks_name="n_blocks",
    image_shape=None,
    strides=(),
):
    """Refuse, before it is built, a network whose training cannot fit in memory.

    Compares :func:`network_bytes` with :func:`available_memory`; nothing is
    allocated. Where the available memory is unknown, nothing is refused.

    Parameters
    ----------
    n_features : int
        Number of input features.
    width : int
        Width of the residual stream.
    hidden_size : int or None
        Hidden width of the :class:`MLPBlock` blocks; None for a custom
        ``block``.
    n_blocks : int
        Number of residual blocks of the network.
    n_outputs : int
        Number of scores per sample.
    batch_size : int
        Rows of a training batch.
    device : torch.device
        The device the network would be trained on.
    n_trained_blocks : int, default=None
        None trains the whole network end to end; an int is a boosting round,
        which trains that many blocks and a head.
    n_blocks_name : str, default="n_blocks"
        The estimator's parameter for the number of blocks, named in the
        message.
    image_shape : tuple of int, default=None
        ``(C, H, W)`` of a convolutional network; None for an MLP network.
    strides : sequence of {1, 2}, default=()
        The strides of a convolutional network's first blocks.

    Returns
    -------
    n_bytes : int
        The estimate of :func:`network_bytes`.

    Raises
    ------
    ValueError
        If the estimate exceeds the memory available on ``device``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_resboost._modules import check_network_size
    >>> n_bytes = check_network_size(5, 128, 128, 20, 1, 256, torch.device("cpu"))
    >>> round(n_bytes / 1e6, 1)
    12.0
    """
    n_bytes = network_bytes(
        n_features,
        width,
        hidden_size,
        n_blocks,
        n_outputs,
        batch_size,
        n_trained_blocks,
        image_shape,
        strides,
    )
    available = available_memory(device)
    if available is not None and n_bytes > available:
        sizes = [f"width={width}"]
        if hidden_size is not None:
            sizes.append(f"hidden_size={hidden_size}")
        sizes.append(f"{n_blocks_name}={n_blocks}")
        raise ValueError(
            f"The network needs about {_gigabytes(n_bytes)} GB of memory to train "
            "(parameters, gradients, AdamW state and the activations of a batch) but "
            f"only {_gigabytes(available)} GB is available on {device}; lower "
            f"{', '.join(sizes)} or batch_size={batch_size}."
        )
    return n_bytes
