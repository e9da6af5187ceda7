"""The one estimator base: what the boosted and the end-to-end estimators share.

Their common parameters and constraints, the opening of ``fit`` (inputs,
weights, targets), the network they start from, the prediction plumbing,
the tags, the declaration of their fitted state, and pickling.
"""

import contextlib
import inspect
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from ._device import (
    EVAL_BATCH_SIZE,
    available_device,
    fetch,
    inference_mode,
    module_from_bytes,
    module_to_bytes,
    seeded,
    storage_device,
    to_storage,
)
from ._export import SkorchMixin
from ._modules import (
    MAX_NUMERIC_BINS,
    STRIDES,
    ConvHead,
    ConvStem,
    FlattenHead,
    ResNet,
    Stem,
    block_strides,
    conv_block_sizes,
    conv_stage_shapes,
    make_block,
)
from ._onnx import OnnxMixin
from ._persistence import VALUES_BEFORE_PARAMETERS, save
from ._tables import cardinalities
from ._threads import limited_threads
from ._trainer import MAX_OPTIMIZER_SCALAR, evaluate
from ._validation import FLOAT32_MAX, ple_edges, stem_statistics, validate_X, weighted_rows

# Seeds drawn from an estimator's generator are below this bound.
MAX_SEED = np.iinfo(np.int32).max
# Training sets larger than this turn early_stopping="auto" on, as in
# HistGradientBoosting (the boosted estimators' threshold is lower).
AUTO_EARLY_STOPPING_SAMPLES = 10_000


# The documentation of what every estimator shares, for the class docstrings.
TABLE_PARAMETERS_DOC = """\
    categorical_features : "from_dtype", array-like of int, str or bool, or None, \
            default="from_dtype"
        The categorical columns of ``X``. ``"from_dtype"``: the pandas
        ``category``, ``object`` and ``string`` columns of a DataFrame (no
        column of an array); otherwise column indices, feature names (for a
        DataFrame) or a boolean mask over the features, as
        :class:`~sklearn.ensemble.HistGradientBoostingClassifier` takes them;
        ``None``: no categorical column. Their values (strings or numbers) need
        no encoding: each category enters the stem as a learned vector, the
        map of a one-hot encoding followed by the stem's linear layer. A
        category unseen in ``fit`` shares the vector of the infrequent
        categories (see ``min_frequency``), or enters as the training average
        when none was infrequent; no error is raised.
    min_frequency : int or float, default=5
        Categories with fewer training rows than this share one learned vector
        (a row count in [1, inf), or a fraction of the rows in (0, 1)), as in
        :class:`~sklearn.preprocessing.OneHotEncoder`: few rows cannot train a
        vector of their own. ``1`` gives every category its own vector."""

# Formatted by each estimator with its default and what was measured of it.
NUMERIC_BINS_DOC = """\
    numeric_bins : int or None, default={default}
        Number of bins of a piecewise-linear encoding of each numeric feature,
        in [2, 256] (Gorishniy et al., "On Embeddings for Numerical Features
        in Tabular Deep Learning", NeurIPS 2022); ``None`` keeps the stem
        linear. The bin edges are the weighted quantiles of the feature's
        standardised training values, equal ones merged, so that a feature
        with few distinct values has fewer bins and a constant one none. A
        value enters as its bins' fill, 1 for the bins below it, its fraction
        of the bin it falls in and 0 above (the first and the last bin extend
        linearly beyond the training range), times a learned vector per bin,
        added to the stem's linear map: the stem learns a piecewise-linear
        function of each feature, bent at the bin edges, that can draw the
        thresholds a linear map cannot. A missing value is encoded as the
        training mean, as the linear map reads it; categorical features do
        not enter it. Unused by ``block="conv"`` networks.
        {measured}"""

IMAGE_PARAMETERS_DOC = """\
    image_shape : tuple of int or None, default=None
        The shape of one row as an image, ``(H, W)`` (one channel) or
        ``(C, H, W)``, each in [1, inf), for ``block="conv"`` only; the rows
        are images flattened in C order (``images.reshape(n, -1)``), so that
        their product is the number of features. ``block="conv"`` needs it
        and takes numeric features only.
    head_pooling : {"flatten", "average"}, default="flatten"
        How the heads of a ``block="conv"`` network read the representation;
        unused by MLP networks. ``"flatten"`` maps every pixel of every
        channel linearly (:class:`~sklearn_resboost.FlattenHead`): it keeps
        where the strokes of a small image are, and scored 0.98 against 0.90
        for ``"average"`` on ``digits`` (8x8). ``"average"`` is global average
        pooling then a linear map (:class:`~sklearn_resboost.ConvHead`),
        whose size does not grow with the image. Both are linear, so that
        the decompositions stay exact.
    strides : sequence of {1, 2} or None, default=None
        The stride of each residual block of a ``block="conv"`` network, in
        block order; blocks past its end, and all blocks for ``None``, keep
        the resolution. A block of stride 2 downsamples: its first
        convolution has stride 2, it doubles the channels (and its hidden
        channels) and halves the height and width, rounding up, and its skip
        connection is 2x2 average pooling with zero channels, which has no
        parameters, so that the residual stream stays a sum and the
        decompositions stay exact. ``(1, 2, 1, 2)`` makes three stages: one
        block at the image's resolution, then two at each halving. Must be
        None for MLP networks."""

TABLE_ATTRIBUTES_DOC = """\
    is_categorical_ : ndarray of shape (`n_features_in_`,), dtype bool
        Which features are categorical.
    categories_ : list of ndarray
        For each categorical feature in column order, its categories with at
        least ``min_frequency`` training rows, sorted (float64 numbers or
        strings); the others are infrequent."""

class BaseResNetEstimator(SkorchMixin, OnnxMixin, BaseEstimator, metaclass=ABCMeta):
    """What every estimator of the package shares.

    The subclasses declare their fitted state in ``_fitted_schema``
    (``{attribute: kind}``, the kinds of :data:`_persistence.FITTED_KINDS`):
    the attributes ``fit`` may set, and the only ones a saved file may
    restore. ``_block_count`` names where the number of blocks is kept.
    """

    _parameter_constraints = {
        "learning_rate": [Interval(Real, 0, FLOAT32_MAX, closed="right")],
        "width": [Interval(Integral, 1, None, closed="left")],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "block": [StrOptions({"mlp", "conv"}), callable],
        "image_shape": ["array-like", None],
        "head_pooling": [StrOptions({"average", "flatten"})],
        "strides": ["array-like", None],
        "lr": [Interval(Real, 0, MAX_OPTIMIZER_SCALAR, closed="right")],
        "weight_decay": [Interval(Real, 0, MAX_OPTIMIZER_SCALAR, closed="both")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "input_noise": [Interval(Real, 0, FLOAT32_MAX, closed="both")],
        "categorical_features": ["array-like", StrOptions({"from_dtype"}), None],
        "min_frequency": [
            Interval(Integral, 1, None, closed="left"),
            Interval(Real, 0, 1, closed="neither"),
        ],
        "numeric_bins": [Interval(Integral, 2, MAX_NUMERIC_BINS, closed="both"), None],
        "early_stopping": [StrOptions({"auto"}), "boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "mixed_precision": ["boolean"],
        "device": [str],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    _fitted_schema = {
        "module_": "network", "device_": "device", "n_features_in_": "count",
        "feature_names_in_": "names", "is_categorical_": "mask",
        "categories_": "categories", "_loss": "loss",
    }  # fmt: skip

    _auto_early_stopping_samples = AUTO_EARLY_STOPPING_SAMPLES

    @abstractmethod
    def __init__(
        self,
        *,
        loss,
        learning_rate,
        width,
        hidden_size,
        block,
        image_shape,
        head_pooling,
        strides,
        lr,
        weight_decay,
        dropout,
        input_noise,
        categorical_features,
        min_frequency,
        numeric_bins,
        early_stopping,
        validation_fraction,
        n_iter_no_change,
        tol,
        mixed_precision,
        device,
        n_threads,
        random_state,
        verbose,
    ):
        self.loss = loss
        self.learning_rate = learning_rate
        self.width = width
        self.hidden_size = hidden_size
        self.block = block
        self.image_shape = image_shape
        self.head_pooling = head_pooling
        self.strides = strides
        self.lr = lr
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.input_noise = input_noise
        self.categorical_features = categorical_features
        self.min_frequency = min_frequency
        self.numeric_bins = numeric_bins
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.mixed_precision = mixed_precision
        self.device = device
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose

    # -- hooks supplied by the classifier and the regressor -------------------

    @abstractmethod
    def _encode_target(self, y):
        """Validate ``y``; return ``(y_encoded, loss)``; set the target attributes."""

    @abstractmethod
    def _target_tensor(self, y, device, offset, scale):
        """Encoded targets in head units, as a tensor of the dtype the loss expects."""

    def _head_targets(self, y, offset, scale):
        """Encoded targets in head units (the regressor standardises them)."""
        return y

    def _output_transform(self, y, sample_weight, n_outputs):
        """Offset and scale from head units to output units (identity here)."""
        return np.zeros(n_outputs), np.ones(n_outputs)

    def _class_sample_weight(self, y, sample_weight):
        return sample_weight

    def _check_weighted_target(self, y):
        """Check the target once zero-weight samples are dropped."""

    def _stratify(self, y):
        return None

    # -- fitting ---------------------------------------------------------------

    def _is_fitted(self):
        return hasattr(self, "module_")

    def _continues(self):
        """Whether this ``fit`` adds to the fitted network (a warm start)."""
        return False

    def _fit_data(self, X, y, sample_weight):
        """The opening of ``fit``: checked inputs, encoded targets and weights, the loss.

        Returns ``(X, y, sample_weight, loss)`` without the rows whose weight
        float32 training cannot hold.
        """
        is_regressor = isinstance(self, RegressorMixin)
        X, y = validate_X(
            self,
            X,
            y,
            reset=not self._continues(),
            multi_output=is_regressor,
            y_numeric=is_regressor,
        )
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        self._image_shape()
        self._strides()
        y, loss = self._encode_target(y)
        sample_weight = self._class_sample_weight(y, sample_weight)
        X, y, sample_weight = weighted_rows(X, y, sample_weight)
        self._check_weighted_target(y)
        return X, y, sample_weight, loss

    def _image_shape(self):
        """``image_shape`` as ``(C, H, W)`` for ``block="conv"``, else None; checked.

        Called once ``n_features_in_`` and ``is_categorical_`` are known.
        """
        if self.block != "conv":
            if self.image_shape is not None:
                raise ValueError(
                    f"image_shape={self.image_shape!r} describes the rows of a "
                    f"convolutional network; set block='conv' or image_shape=None."
                )
            return None
        if self.image_shape is None:
            raise ValueError(
                "block='conv' needs image_shape, the shape (H, W) or (C, H, W) of one "
                "row as an image."
            )
        shape = tuple(self.image_shape)
        if (
            len(shape) not in (2, 3)
            or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in shape)
            or min(shape) < 1
        ):
            raise ValueError(
                f"image_shape must be (H, W) or (C, H, W) of integers >= 1; got "
                f"{self.image_shape!r}."
            )
        shape = tuple(int(d) for d in ((1, *shape) if len(shape) == 2 else shape))
        if int(np.prod(shape)) != self.n_features_in_:
            raise ValueError(
                f"image_shape={self.image_shape!r} holds {int(np.prod(shape))} pixels "
                f"but X has {self.n_features_in_} features; a row must be one "
                "flattened image."
            )
        if np.any(self.is_categorical_):
            raise ValueError(
                "block='conv' takes numeric pixels only, but X has categorical "
                f"features (columns {np.flatnonzero(self.is_categorical_).tolist()}); "
                "set categorical_features=None or encode them as numbers."
            )
        return shape

    def _stem_bins(self):
        """``numeric_bins`` of an MLP stem; None for a convolutional one, which has no encoding."""
        return None if self.block == "conv" else self.numeric_bins

    def _strides(self):
        """``strides`` as a tuple of ints, empty for None; checked."""
        if self.strides is None:
            return ()
        if self.block != "conv":
            raise ValueError(
                f"strides={self.strides!r} sets the downsampling blocks of a "
                "convolutional network; set block='conv' or strides=None."
            )
        strides = tuple(self.strides)
        if not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s in STRIDES
            for s in strides
        ):
            raise ValueError(f"strides must be a sequence of 1 and 2; got {self.strides!r}.")
        return tuple(int(s) for s in strides)

    def _stage_shapes(self, n_blocks):
        """``(channels, H, W)`` of ``g_0, ..., g_{n_blocks}`` of a convolutional network."""
        strides = block_strides(self._strides(), n_blocks)
        return conv_stage_shapes(self._image_shape(), self.width, strides)

    def _representation_size(self):
        """Float32 values of the largest representation ``g_t`` of one row."""
        if self._image_shape() is None:
            return self.width
        return max(int(np.prod(shape)) for shape in self._stage_shapes(len(self._strides())))

    def _make_block(self, t, zero_init=True):
        """Block ``t``: a convolutional one has the channels of its stage and its stride."""
        if self.block != "conv":
            return make_block(self.block, self.width, self.hidden_size, self.dropout, zero_init)
        channels, hidden = conv_block_sizes(self._stage_shapes(t + 1), t, self.width, self.hidden_size)
        stride = block_strides(self._strides(), t + 1)[t]
        return make_block(self.block, channels, hidden, self.dropout, zero_init, stride)

    def _make_head(self, t, n_outputs):
        """The head of stage ``t``, sized for its representation."""
        if self._image_shape() is None:
            return torch.nn.Linear(self.width, n_outputs)
        channels, height, image_width = self._stage_shapes(t)[-1]
        if self.head_pooling == "average":
            return ConvHead(channels, n_outputs)
        return FlattenHead(channels * height * image_width, n_outputs)

    def _new_network(
        self, X, sample_weight, n_outputs, prior, offset, scale, seed, n_blocks=0, skip=True
    ):
        """A network with ``n_blocks`` blocks whose every head predicts the prior.

        The stem's normalisation is fitted on the rows ``X`` of weights
        ``sample_weight``; ``offset`` and ``scale`` map head units to output
        units. Weights are drawn under ``seed``.
        """
        cards = cardinalities(self.is_categorical_, self.categories_)
        image_shape = self._image_shape()
        bins = self._stem_bins()
        with seeded(seed, torch.device("cpu")):
            if image_shape is None:
                stem = Stem(X.shape[1], self.width, self.input_noise, cards, bins)
            else:
                stem = ConvStem(image_shape, self.width, self.input_noise)
            network = ResNet(stem, n_outputs, self.learning_rate, skip=skip)
            for t in range(n_blocks):
                network.blocks.append(self._make_block(t, zero_init=skip))
            for t in range(n_blocks + 1):
                network.heads.append(self._make_head(t, n_outputs))
        statistics = stem_statistics(X, sample_weight, cards)
        if bins is None:
            stem.set_normalisation(*statistics)
        else:
            center, spread, _ = statistics
            edges = ple_edges(X, sample_weight, cards, center, spread, bins)
            stem.set_normalisation(*statistics, edges=edges)
        with torch.no_grad():
            for head in network.heads:
                head.weight.zero_()
                head.bias.copy_(torch.as_tensor(prior))
            network.output_offset.copy_(torch.as_tensor(offset))
            network.output_scale.copy_(torch.as_tensor(scale))
        return network

    # -- inference -------------------------------------------------------------

    def _validate_X(self, X, stream=False):
        """``X`` validated, as a float32 tensor on the device.

        With ``stream``, rows too large for the device's free memory stay on
        the host (pinned) for the caller to copy batch by batch.
        """
        check_is_fitted(self)
        X = validate_X(self, X, reset=False)
        if not X.flags.writeable:
            # torch cannot wrap read-only memory (DataFrames, memmaps) without a copy.
            X = X.copy()
        storage = self.device_
        if stream:
            row_values = X.shape[1] + 2 * self._representation_size()
            storage = storage_device(self.device_, 4 * X.shape[0] * row_values)
        return to_storage(X, torch.float32, self.device_, storage)

    def encode_inputs(self, X):
        """``X`` as the float32 matrix the fitted network takes, ``module_(x)``.

        Numeric columns keep their values, a missing value as NaN; a
        categorical column holds the codes of its values: 0 for a missing
        value, 1 for an infrequent category or one unseen in ``fit``, and
        ``2 + i`` for ``categories_[k][i]`` (the ``k``-th categorical
        column). This is the input of the network itself, for example of the
        skorch net of :meth:`to_skorch` or of a custom training loop.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Input samples, as ``predict`` takes them.

        Returns
        -------
        X_network : ndarray of shape (n_samples, n_features), dtype float32
            The encoded inputs.
        """
        check_is_fitted(self)
        return validate_X(self, X, reset=False).astype(np.float32)

    @contextlib.contextmanager
    def _inference(self, X):
        """Validate ``X`` and yield ``(network, X, batch)`` ready for an inference pass.

        ``batch(s)`` is the slice ``s`` of the rows on the network's device.
        """
        X = self._validate_X(X, stream=True)
        with (
            limited_threads(self.n_threads),
            inference_mode(self.module_) as network,
            torch.no_grad(),
        ):
            yield network, X, lambda s: fetch(X[s], self.device_)

    def _raw_scores(self, X):
        """Scores of the final stage in output units, shape (n_samples, K), float64."""
        with self._inference(X) as (network, X, _):
            scores = evaluate(network, X, EVAL_BATCH_SIZE, self.device_)
        return scores.double().cpu().numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Missing values are learned per feature by the stem.
        tags.input_tags.allow_nan = True
        # Densified up to MAX_DENSE_CELLS cells.
        tags.input_tags.sparse = True
        return tags

    # -- persistence -----------------------------------------------------------

    def __getstate__(self):
        # The network is pickled as torch.save bytes, so that unpickling can
        # map it to a device this machine has.
        state = super().__getstate__()
        if "module_" in state:
            state = dict(state)
            state["module_"] = module_to_bytes(self.module_)
        return state

    def __setstate__(self, state):
        # Unpickling on a machine without the fitted device (no CUDA, fewer
        # GPUs) puts the network on the CPU with a DeviceWarning.
        if "module_" in state and isinstance(state["module_"], bytes):
            state = dict(state)
            state["module_"], state["device_"] = module_from_bytes(
                state["module_"], available_device(state["device_"])
            )
        # A pickle written before a parameter existed gets what it was fitted
        # with: its default, or the value before it, as load() gives it.
        defaults = {
            name: VALUES_BEFORE_PARAMETERS.get(name, parameter.default)
            for name, parameter in inspect.signature(type(self).__init__).parameters.items()
            if parameter.default is not inspect.Parameter.empty and name not in state
        }
        super().__setstate__({**defaults, **state})

    def save(self, path):
        """Save the fitted estimator to ``path`` in the safe format.

        The file is a safetensors file: the weights as tensors and everything
        else as JSON. :func:`sklearn_resboost.load` reads it back without
        running any code from the file, so it is safe to load files from
        untrusted sources, unlike pickle or joblib files.

        Parameters
        ----------
        path : str, path-like or binary file object
            Destination file; it is overwritten. ``.safetensors`` is the
            customary suffix. A path is written atomically: the model goes to
            a temporary file in the same folder, which replaces ``path`` only
            once it is complete, so a failed save (a full disk, a file-size
            limit) leaves an existing file as it was. A file object opened
            for binary writing (``io.BytesIO``, ``open(..., "wb")``) receives
            the bytes as they are.

        Raises
        ------
        ValueError
            If a parameter or attribute cannot be written as data: a callable
            ``block`` (a custom block is code and would have to be executed on
            load), skorch ``callbacks``, or an attribute of an unknown type.
            Use pickle or joblib for such models.
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        """
        save(self, path)
