"""Export of the fitted estimators to ONNX, and their converters for skl2onnx.

The graph is built from the fitted weights with the operators of the ONNX
standard (``LayerNormalization`` needs opset 17) and ``ai.onnx.ml``'s
``LabelEncoder`` for the categories (``Conv``, ``GlobalAveragePool`` and
``LayerNormalization`` over ``(C, H, W)`` for ``block="conv"``); it is the computation of
:class:`~sklearn_resboost.ResNet` and of the estimators' prediction methods,
input encoding included, in float32. One converter serves both
:meth:`~sklearn_resboost.BoostResNetClassifier.to_onnx` and
``skl2onnx.to_onnx(pipeline, ...)``: it is registered with skl2onnx with a
parser and a shape calculator (:func:`register_onnx_converters`).

onnx and skl2onnx are optional: they are imported only by the functions that
need them, which raise an :class:`ImportError` naming the ``onnx`` extra
without them.
"""

import copy
import importlib
from os import fspath

import numpy as np
import torch
from sklearn.base import ClassifierMixin, is_classifier
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._losses import BinaryExponentialLoss, MultinomialExponentialLoss
from ._modules import (
    STANDARDISED_CLIP,
    ConvBlock,
    ConvStem,
    FlattenHead,
    MLPBlock,
    conv_stage_shapes,
)
from ._persistence import _ESTIMATORS
from ._tables import FIRST_LEVEL, INFREQUENT_CODE, MISSING_CODE, is_frame, missing_values

#: The lowest opset of the default domain the graph can use: LayerNormalization
#: appeared in opset 17.
MIN_OPSET = 17
#: What a text column holds for a missing value in the exported model's input
#: (string tensors cannot hold None or NaN); it means missing unless it is one
#: of the column's fitted categories.
MISSING_TEXT = ""

_INSTALL_HINT = "pip install 'sklearn-resboost[onnx]'"
_LABEL_ENCODER_VERSION = 2


def _require(module, caller):
    """Import ``module``, or raise an ImportError that names the ``onnx`` extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{caller} needs the package {module!r}, which is not installed; install "
            f"the optional dependencies of the ONNX export with {_INSTALL_HINT}."
        ) from exc


# -- the fitted network as arrays -----------------------------------------------


def _check_exportable(estimator):
    """Refuse an estimator the graph cannot express: unfitted, or with a custom block."""
    check_is_fitted(estimator)
    name = type(estimator).__name__
    block_type = ConvBlock if isinstance(estimator.module_.stem, ConvStem) else MLPBlock
    for k, block in enumerate(estimator.module_.blocks):
        if type(block) is not block_type or not isinstance(block.activation, nn.ReLU):
            raise ValueError(
                "The ONNX export supports networks of MLPBlock blocks (block='mlp') and "
                f"of ConvBlock blocks (block='conv'); block "
                f"{k} of this {name} is a {type(block).__name__}, built by a custom block "
                "callable, which has no ONNX converter."
            )


class _Network:
    """The fitted network's weights as float64 NumPy arrays, read in one place.

    Read from a float64 copy of ``module_`` on the CPU, the network
    ``predict`` evaluates on the CPU; the graph rounds them to float32 once.
    """

    def __init__(self, estimator):
        _check_exportable(estimator)
        net = copy.deepcopy(estimator.module_).cpu().double().eval()
        stem = net.stem

        def array(tensor):
            return tensor.detach().numpy().copy()

        self.image_shape = getattr(stem, "image_shape", None)
        self.flatten = isinstance(net.heads[0], FlattenHead)
        with torch.no_grad():
            self.center = array(stem.center)
            self.scale = array(stem.scale)
            if self.image_shape is not None:
                self._conv_weights(net, array)
                return
            self.stem_weight = array(stem.linear.weight)
            self.stem_bias = array(stem.linear.bias)
            self.missing = array(stem.missing)
            self.code_vectors = array(stem.code_vectors())
            self.code_offsets = array(stem.code_offsets)
            self.ple = None
            if stem.numeric_bins is not None:
                self.ple = dict(
                    left=array(stem.ple_left),
                    width=array(stem.ple_width),
                    mask=array(stem.ple_mask),
                    vectors=array(stem.ple),
                )
            self.blocks = [
                dict(
                    norm_weight=array(block.norm.weight),
                    norm_bias=array(block.norm.bias),
                    eps=float(block.norm.eps),
                    weight1=array(block.linear1.weight),
                    bias1=array(block.linear1.bias),
                    weight2=array(block.linear2.weight),
                    bias2=array(block.linear2.bias),
                )
                for block in net.blocks
            ]
            self._head_weights(net, array)

    def _head_weights(self, net, array):
        # The output scale and offset are folded into every head.
        scale = array(net.output_scale)
        offset = array(net.output_offset)
        self.heads = [
            (array(head.weight) * scale[:, None], array(head.bias) * scale + offset)
            for head in net.heads
        ]
        self.learning_rate = net.learning_rate
        self.skip = net.skip
        self.n_blocks = net.n_blocks

    def _conv_weights(self, net, array):
        """The weights of a convolutional network; GroupNorm's per-channel affine
        map is spread over the pixels, as LayerNormalization over ``(C, H, W)`` takes it."""
        strides = [block.stride for block in net.blocks]
        shapes = conv_stage_shapes(self.image_shape, net.stem.width, strides)

        def per_pixel(values, shape):
            return np.broadcast_to(values[:, None, None], (len(values), *shape[1:])).copy()

        self.stem_weight = array(net.stem.conv.weight)
        self.stem_bias = array(net.stem.conv.bias)
        self.blocks = [
            dict(
                norm1_weight=per_pixel(array(block.norm1.weight), before),
                norm1_bias=per_pixel(array(block.norm1.bias), before),
                eps1=float(block.norm1.eps),
                weight1=array(block.conv1.weight),
                bias1=array(block.conv1.bias),
                norm2_weight=per_pixel(array(block.norm2.weight), after),
                norm2_bias=per_pixel(array(block.norm2.bias), after),
                eps2=float(block.norm2.eps),
                weight2=array(block.conv2.weight),
                bias2=array(block.conv2.bias),
                stride=block.stride,
                # The zero channels of a downsampling block's skip connection.
                new_channels=after[0] - before[0],
            )
            for block, before, after in zip(net.blocks, shapes, shapes[1:])
        ]
        self._head_weights(net, array)


def _label_classes(classes, nocl=False):
    """The class labels as the graph's ``label`` holds them: int64, str or float64.

    Integer and boolean labels, and floats that are all integers, become
    int64 (as skl2onnx's ZipMap takes them); other floats stay float64.
    skl2onnx's option ``nocl`` makes them the class indices.
    """
    classes = np.asarray(classes)
    if nocl:
        return np.arange(len(classes), dtype=np.int64)
    if classes.dtype.kind in "biu":
        return classes.astype(np.int64)
    if classes.dtype.kind == "f":
        integral = np.all(classes == np.round(classes))
        return classes.astype(np.int64) if integral else classes.astype(np.float64)
    if all(isinstance(label, (str, np.str_)) for label in classes):
        return classes.astype(str)
    raise ValueError(
        "The ONNX export needs class labels that are numbers or strings; classes_ has "
        f"labels of types {sorted({type(label).__name__ for label in classes})}."
    )


def _text_levels(levels):
    return np.asarray(levels).dtype.kind in "UO"


def _per_column_inputs(estimator):
    """Whether the exported model takes one input per column (a DataFrame with categories)."""
    mask = getattr(estimator, "is_categorical_", None)
    return hasattr(estimator, "feature_names_in_") and mask is not None and bool(mask.any())


# -- the graph --------------------------------------------------------------------


class _Graph:
    """Nodes and constants added to a skl2onnx container, under names unique in its scope."""

    def __init__(self, scope, container):
        self.scope = scope
        self.container = container
        self._floats = {}

    def constant(self, hint, value, dtype=np.float32):
        from onnx import TensorProto, numpy_helper

        name = self.scope.get_unique_variable_name(hint)
        value = np.asarray(value)
        if value.dtype.kind in "UO":
            content = [str(v).encode("utf-8") for v in value.ravel()]
            self.container.add_initializer(name, TensorProto.STRING, list(value.shape), content)
        else:
            tensor = numpy_helper.from_array(value.astype(dtype), name)
            self.container.add_initializer(name, tensor.data_type, list(value.shape), tensor)
        return name

    def op(self, op_type, inputs, hint=None, output=None, domain="", **attrs):
        """Add one node; return the name of its output (``output``, or a new one)."""
        # LabelEncoder's version 2 has the keys and values the graph uses;
        # skl2onnx would otherwise pick the newest, which it may not support.
        version = _LABEL_ENCODER_VERSION if op_type == "LabelEncoder" else None
        if output is None:
            output = self.scope.get_unique_variable_name(hint or op_type.lower())
        self.container.add_node(
            op_type,
            list(inputs),
            [output],
            op_domain=domain,
            op_version=version,
            name=self.scope.get_unique_operator_name(op_type),
            **attrs,
        )
        return output

    def as_float(self, variable):
        """The float32 tensor of an input variable, cast once when it has another type."""
        from onnx import TensorProto
        from skl2onnx.common.data_types import FloatTensorType

        name = variable.full_name
        if isinstance(variable.type, FloatTensorType):
            return name
        if name not in self._floats:
            self._floats[name] = self.op("Cast", [name], f"{name}_float", to=TensorProto.FLOAT)
        return self._floats[name]


def _feature_sources(estimator, inputs):
    """Where every feature comes from: ``(input variable, column of it)``, in feature order."""
    n_features = estimator.n_features_in_
    sources = []
    for variable in inputs:
        width = variable.get_second_dimension()
        if width is None:
            width = n_features if len(inputs) == 1 else 1
        sources += [(variable, column) for column in range(width)]
    if len(sources) != n_features:
        raise ValueError(
            f"{type(estimator).__name__} was fitted on {n_features} features, but its ONNX "
            f"inputs have {len(sources)} columns."
        )
    return sources


def _is_text(variable):
    from skl2onnx.common.data_types import StringTensorType

    return isinstance(variable.type, StringTensorType)


def _columns_of(graph, variable, columns, hint):
    """The ``columns`` of ``variable`` (a 2-D tensor), all of it when they are all its columns."""
    width = variable.get_second_dimension()
    source = variable.full_name if _is_text(variable) else graph.as_float(variable)
    if width is not None and list(columns) == list(range(width)):
        return source
    indices = graph.constant(f"{hint}_columns", np.asarray(columns), np.int64)
    return graph.op("Gather", [source, indices], hint, axis=1)


def _standardised(graph, x, center, scale):
    """``x`` standardised and clipped, 0 (the mean) where missing, and its NaN mask,
    as ``_modules.standardised`` and the stems compute them."""
    center = graph.constant("stem_center", center)
    scale = graph.constant("stem_scale", scale)
    low = graph.constant("clip_low", -STANDARDISED_CLIP)
    high = graph.constant("clip_high", STANDARDISED_CLIP)
    z = graph.op("Div", [graph.op("Sub", [x, center]), scale], "standardised")
    z = graph.op("Clip", [z, low, high], "clipped")
    is_missing = graph.op("IsNaN", [x], "missing")
    z = graph.op("Where", [is_missing, graph.constant("zero", 0.0), z], "observed")
    return z, is_missing


def _numeric_stem(graph, estimator, network, sources, numeric):
    """The numeric features' share of ``g_0``, the stem's bias included.

    The standardised and clipped values through the stem's linear map, plus
    the ``missing`` vectors of the NaN entries and the piecewise-linear
    encoding (:func:`_numeric_bins`), as in ``Stem.forward``.
    """
    from onnx import TensorProto

    # The numeric columns of each input, in feature order.
    groups = {}
    for j in numeric:
        variable, column = sources[j]
        groups.setdefault(variable.full_name, (variable, []))[1].append(column)
    parts = []
    for variable, columns in groups.values():
        if _is_text(variable):
            raise ValueError(
                f"The ONNX input {variable.onnx_name!r} is a string tensor, but "
                f"{type(estimator).__name__} has numeric features there."
            )
        parts.append(_columns_of(graph, variable, columns, "numeric"))
    x = parts[0] if len(parts) == 1 else graph.op("Concat", parts, "numeric", axis=1)
    z, is_missing = _standardised(graph, x, network.center[numeric], network.scale[numeric])
    weight = graph.constant("stem_weight", network.stem_weight[:, numeric])
    bias = graph.constant("stem_bias", network.stem_bias)
    g = graph.op("Gemm", [z, weight, bias], "stem_linear", transB=1)
    missing = network.missing[numeric]
    # A feature without missing values in fit has a zero vector: nothing to add.
    if missing.any():
        indicator = graph.op("Cast", [is_missing], "missing_float", to=TensorProto.FLOAT)
        missing = graph.op("MatMul", [indicator, graph.constant("stem_missing", missing)])
        g = graph.op("Add", [g, missing], "stem")
    if network.ple is not None:
        g = graph.op("Add", [g, _numeric_bins(graph, network, z, numeric)], "stem")
    return g


def _numeric_bins(graph, network, z, numeric):
    """The piecewise-linear encoding's share of ``g_0``, as in ``Stem.forward``.

    ``z`` holds the standardised numeric features, 0 (the mean) for a
    missing one; every one is repeated once per bin, so that the bins of all
    features are one row of ``n_numeric * numeric_bins`` values. Infinite
    bounds leave the first bin unclamped below and a feature's last one
    above; an unused bin's vector is zeroed.
    """
    ple = {name: values[numeric] for name, values in network.ple.items()}
    n_features, n_bins = ple["mask"].shape
    repeat = graph.constant("ple_features", np.repeat(np.arange(n_features), n_bins), np.int64)
    lower = np.where(np.arange(n_bins) > 0, 0.0, -np.inf)
    followed = np.pad(ple["mask"][:, 1:], ((0, 0), (0, 1))) > 0
    upper = np.where(followed, 1.0, np.inf)
    t = graph.op("Gather", [z, repeat], "ple_values", axis=1)
    t = graph.op("Sub", [t, graph.constant("ple_left", ple["left"].ravel())])
    t = graph.op("Div", [t, graph.constant("ple_width", ple["width"].ravel())])
    t = graph.op("Max", [t, graph.constant("ple_lower", np.tile(lower, n_features))])
    t = graph.op("Min", [t, graph.constant("ple_upper", upper.ravel())], "ple_bins")
    vectors = (ple["vectors"] * ple["mask"][:, :, None]).reshape(n_features * n_bins, -1)
    return graph.op("MatMul", [t, graph.constant("ple_vectors", vectors)], "stem_bins")


def _category_codes(graph, estimator, variable, column, levels, offset, where):
    """One categorical column's codes plus ``offset``, the rows of the stem's code vectors.

    Text goes through a LabelEncoder whose keys are the fitted categories
    and :data:`MISSING_TEXT`; numbers through one on float32 keys, NaN being
    missing. Anything else gets the infrequent (or unseen) code.
    """
    text = _text_levels(levels)
    if text != _is_text(variable):
        kinds = ("text", "a number") if text else ("numbers", "a string")
        raise ValueError(
            f"{type(estimator).__name__} had {kinds[0]} categories in the column {where}, "
            f"but its ONNX input {variable.onnx_name!r} is {kinds[1]} tensor."
        )
    x = _columns_of(graph, variable, [column], "column")
    keys = [str(level) for level in levels] if text else list(levels)
    values = [offset + FIRST_LEVEL + i for i in range(len(keys))]
    default = offset + INFREQUENT_CODE
    if text:
        if MISSING_TEXT not in keys:
            keys.append(MISSING_TEXT)
            values.append(offset + MISSING_CODE)
        return graph.op(
            "LabelEncoder", [x], "codes", domain="ai.onnx.ml",
            keys_strings=keys, values_int64s=values, default_int64=default,
        )  # fmt: skip
    if keys:
        codes = graph.op(
            "LabelEncoder", [x], "codes", domain="ai.onnx.ml",
            keys_floats=np.asarray(keys, dtype=np.float32).tolist(), values_int64s=values,
            default_int64=default,
        )  # fmt: skip
    else:
        codes = graph.constant("infrequent", default, np.int64)
    missing = graph.constant("missing_code", offset + MISSING_CODE, np.int64)
    return graph.op("Where", [graph.op("IsNaN", [x]), missing, codes], "codes")


def _categorical_stem(graph, estimator, network, sources, categorical):
    """The categorical features' share of ``g_0``: the sum of their codes' vectors."""
    names = getattr(estimator, "feature_names_in_", None)
    codes = []
    for k, j in enumerate(categorical):
        variable, column = sources[j]
        where = str(j) if names is None else repr(str(names[j]))
        codes.append(
            _category_codes(
                graph, estimator, variable, column, estimator.categories_[k],
                int(network.code_offsets[k]), where,
            )
        )  # fmt: skip
    codes = codes[0] if len(codes) == 1 else graph.op("Concat", codes, "codes", axis=1)
    table = graph.constant("code_vectors", network.code_vectors)
    vectors = graph.op("Gather", [table, codes], "code_vectors", axis=0)
    axes = graph.constant("feature_axis", [1], np.int64)
    return graph.op("ReduceSum", [vectors, axes], "categories", keepdims=0)


def _conv_stem(graph, estimator, network, sources):
    """``g_0`` of a convolutional network, as in ``ConvStem.forward``: the standardised
    pixels and their missing-value masks as an image, through the stem's convolution."""
    from onnx import TensorProto

    variable = sources[0][0]
    if _is_text(variable):
        raise ValueError(
            f"The ONNX input {variable.onnx_name!r} is a string tensor, but "
            f"{type(estimator).__name__} has numeric pixels there."
        )
    x = _columns_of(graph, variable, range(estimator.n_features_in_), "pixels")
    z, is_missing = _standardised(graph, x, network.center, network.scale)
    mask = graph.op("Cast", [is_missing], "missing_float", to=TensorProto.FLOAT)
    image = graph.op("Concat", [z, mask], "stem_input", axis=1)
    channels, height, width = network.image_shape
    shape = graph.constant("image_shape", [-1, 2 * channels, height, width], np.int64)
    image = graph.op("Reshape", [image, shape], "image")
    return _conv(graph, image, network.stem_weight, network.stem_bias, "stem")


def _conv(graph, x, weight, bias, hint, stride=1):
    """A 3x3 convolution, as ``nn.Conv2d(..., 3, stride=stride, padding=1)``."""
    return graph.op(
        "Conv", [x, graph.constant(f"{hint}_weight", weight),
                 graph.constant(f"{hint}_bias", bias)],
        hint, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[stride, stride],
    )  # fmt: skip


def _conv_shortcut(graph, block, k, g):
    """The skip connection of a ``ConvBlock``, as ``ConvBlock.shortcut``: ``g``, or for a
    downsampling block its 2x2 means (a cut window averages the pixels it holds)
    and zero channels."""
    if block["stride"] == 1:
        return g
    pooled = graph.op(
        "AveragePool", [g], f"block{k}_pooled", kernel_shape=[2, 2], strides=[2, 2],
        ceil_mode=1, count_include_pad=0,
    )  # fmt: skip
    pads = graph.constant(f"block{k}_pads", [0, 0, 0, 0, 0, block["new_channels"], 0, 0], np.int64)
    return graph.op("Pad", [pooled, pads], f"block{k}_skip")


def _stem(graph, estimator, network, inputs):
    """``g_0``, from the inputs as ``predict`` takes them."""
    sources = _feature_sources(estimator, inputs)
    if network.image_shape is not None:
        return _conv_stem(graph, estimator, network, sources)
    mask = getattr(estimator, "is_categorical_", None)
    if mask is None:
        mask = np.zeros(estimator.n_features_in_, dtype=bool)
    numeric, categorical = np.flatnonzero(~mask), np.flatnonzero(mask)
    g = None
    if numeric.size:
        g = _numeric_stem(graph, estimator, network, sources, numeric)
    if categorical.size:
        categories = _categorical_stem(graph, estimator, network, sources, categorical)
        if g is None:
            # The stem's linear map only reads the numeric features: its bias remains.
            return graph.op("Add", [categories, graph.constant("stem_bias", network.stem_bias)])
        g = graph.op("Add", [g, categories], "stem")
    return g


def _conv_branch(graph, block, k, g, nu):
    """The residual branch of a ``ConvBlock``, ``nu`` folded into its last convolution.

    GroupNorm with one group normalises each image over its channels and
    pixels: LayerNormalization from axis 1, with the per-channel affine map
    spread over the pixels.
    """
    h = g
    for i, (weight, bias) in enumerate(
        [(block["weight1"], block["bias1"]), (nu * block["weight2"], nu * block["bias2"])],
        start=1,
    ):
        h = graph.op(
            "LayerNormalization",
            [h, graph.constant(f"block{k}_norm{i}_weight", block[f"norm{i}_weight"]),
             graph.constant(f"block{k}_norm{i}_bias", block[f"norm{i}_bias"])],
            f"block{k}_norm{i}", axis=1, epsilon=block[f"eps{i}"],
        )  # fmt: skip
        h = graph.op("Relu", [h], f"block{k}_relu{i}")
        stride = block["stride"] if i == 1 else 1
        h = _conv(graph, h, weight, bias, f"block{k}_conv{i}", stride)
    return h


def _stage_scores(graph, network, g0, all_stages):
    """The final scores, and with ``all_stages`` the scores of every stage stacked."""
    g, stages = g0, []

    def head(t, g):
        weight, bias = network.heads[t]
        if network.image_shape is not None:
            if not network.flatten:
                g = graph.op("GlobalAveragePool", [g], f"pooled{t}")
            g = graph.op("Flatten", [g], f"features{t}", axis=1)
        return graph.op(
            "Gemm", [g, graph.constant(f"head{t}_weight", weight),
                     graph.constant(f"head{t}_bias", bias)], f"scores{t}", transB=1,
        )  # fmt: skip

    for k, block in enumerate(network.blocks):
        if all_stages:
            stages.append(head(k, g))
        # The shrinkage is folded into the block's last layer: nu * (W r + b).
        nu = network.learning_rate if network.skip else 1.0
        if network.image_shape is not None:
            h = _conv_branch(graph, block, k, g, nu)
            if network.skip:
                h = graph.op("Add", [_conv_shortcut(graph, block, k, g), h], f"g{k + 1}")
            g = h
            continue
        h = graph.op(
            "LayerNormalization",
            [g, graph.constant(f"block{k}_norm_weight", block["norm_weight"]),
             graph.constant(f"block{k}_norm_bias", block["norm_bias"])],
            f"block{k}_norm", axis=-1, epsilon=block["eps"],
        )  # fmt: skip
        h = graph.op(
            "Gemm", [h, graph.constant(f"block{k}_weight1", block["weight1"]),
                     graph.constant(f"block{k}_bias1", block["bias1"])],
            f"block{k}_hidden", transB=1,
        )  # fmt: skip
        h = graph.op("Relu", [h], f"block{k}_relu")
        h = graph.op(
            "Gemm", [h, graph.constant(f"block{k}_weight2", nu * block["weight2"]),
                     graph.constant(f"block{k}_bias2", nu * block["bias2"])],
            f"block{k}_branch", transB=1,
        )  # fmt: skip
        g = graph.op("Add", [g, h], f"g{k + 1}") if network.skip else h
    final = head(network.n_blocks, g)
    if not all_stages:
        return final, None
    stages.append(final)
    axis = graph.constant("stage_axis", [0], np.int64)
    stages = [graph.op("Unsqueeze", [s, axis], "stage") for s in stages]
    return final, stages


def _classifier_outputs(graph, estimator, nocl, scores, label, probabilities):
    """``label`` and ``probabilities`` from the final scores, as ``predict`` and
    ``predict_proba`` compute them; with ``nocl``, the labels are class indices."""
    from onnx import TensorProto

    exponential = isinstance(estimator._loss, (BinaryExponentialLoss, MultinomialExponentialLoss))
    logits = graph.op("Mul", [scores, graph.constant("two", 2.0)]) if exponential else scores
    classes = _label_classes(estimator.classes_, nocl)
    if estimator.n_classes_ == 2:
        positive = graph.op("Sigmoid", [logits], "positive")
        negative = graph.op("Sub", [graph.constant("one", 1.0), positive], "negative")
        graph.op("Concat", [negative, positive], output=probabilities, axis=1)
        index = graph.op("Greater", [scores, graph.constant("zero", 0.0)], "positive_label")
        index = graph.op("Cast", [index], to=TensorProto.INT64)
        flat = graph.constant("flat", [-1], np.int64)
        index = graph.op("Reshape", [index, flat], "class_index")
    else:
        graph.op("Softmax", [logits], output=probabilities, axis=1)
        index = graph.op("ArgMax", [scores], "class_index", axis=1, keepdims=0)
    if classes.dtype.kind == "i" and np.array_equal(classes, np.arange(len(classes))):
        graph.op("Identity", [index], output=label)
    else:
        table = graph.constant("classes", classes, classes.dtype)
        graph.op("Gather", [table, index], output=label, axis=0)


def _convert(scope, operator, container):
    """The skl2onnx converter of the four estimators."""
    estimator = operator.raw_operator
    opset = container.target_opset_any_domain("")
    if opset < MIN_OPSET:
        raise ValueError(
            f"The ONNX export of {type(estimator).__name__} needs target_opset >= "
            f"{MIN_OPSET} (LayerNormalization); got {opset}."
        )
    defaults = {"stages": False, **({"nocl": False} if is_classifier(estimator) else {})}
    options = container.get_options(estimator, defaults)
    network = _Network(estimator)
    graph = _Graph(scope, container)
    g0 = _stem(graph, estimator, network, operator.inputs)
    scores, stages = _stage_scores(graph, network, g0, options["stages"])
    outputs = [variable.full_name for variable in operator.outputs]
    if stages is not None:
        graph.op("Concat", stages, output=outputs.pop(), axis=0)
    if is_classifier(estimator):
        _classifier_outputs(graph, estimator, options["nocl"], scores, *outputs)
    else:
        graph.op("Identity", [scores], output=outputs[0])


def _n_scores(estimator):
    """Scores per sample: 1 for two classes, else the classes or the regression outputs."""
    if is_classifier(estimator):
        return 1 if estimator.n_classes_ == 2 else estimator.n_classes_
    return estimator.n_outputs_


def _label_type(classes):
    from skl2onnx.common.data_types import DoubleTensorType, Int64TensorType, StringTensorType

    return {"i": Int64TensorType, "U": StringTensorType, "f": DoubleTensorType}[classes.dtype.kind]


def _shapes(operator):
    """The skl2onnx shape calculator: types and shapes of the converter's outputs."""
    from skl2onnx.common.data_types import FloatTensorType

    estimator = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    outputs = list(operator.outputs)
    if is_classifier(estimator):
        # The parser chose the label's type.
        outputs[0].type = type(outputs[0].type)([n])
        outputs[1].type = FloatTensorType([n, estimator.n_classes_])
        rest = outputs[2:]
    else:
        outputs[0].type = FloatTensorType([n, estimator.n_outputs_])
        rest = outputs[1:]
    for variable in rest:
        variable.type = FloatTensorType([estimator.module_.n_blocks + 1, n, _n_scores(estimator)])


def _parse(scope, model, inputs, custom_parsers=None):
    """The skl2onnx parser: ``label`` and ``probabilities`` (or ZipMap's outputs) for a
    classifier, ``variable`` for a regressor, and ``stages`` with the option ``stages``."""
    from skl2onnx._parse import _apply_zipmap, _get_sklearn_operator_name
    from skl2onnx.common.data_types import FloatTensorType

    _check_exportable(model)
    operator = scope.declare_local_operator(_get_sklearn_operator_name(type(model)), model)
    operator.inputs = list(inputs)
    defaults = {"stages": False}
    if is_classifier(model):
        defaults.update(zipmap=True, nocl=False)
    options = scope.get_options(model, defaults)
    if is_classifier(model):
        classes = _label_classes(model.classes_, options["nocl"])
        label = scope.declare_local_variable("label", _label_type(classes)([None]))
        probabilities = scope.declare_local_variable("probabilities", FloatTensorType())
        outputs = [label, probabilities]
    else:
        outputs = [scope.declare_local_variable("variable", FloatTensorType())]
    operator.outputs.extend(outputs)
    if is_classifier(model) and options["zipmap"] is not False:
        outputs = list(
            _apply_zipmap(options["zipmap"], scope, model, FloatTensorType(), outputs)
        )
    if options["stages"]:
        stages = scope.declare_local_variable("stages", FloatTensorType())
        operator.outputs.append(stages)
        outputs.append(stages)
    return outputs


def register_onnx_converters():
    """Register the ONNX converters of the package's estimators with skl2onnx.

    After it, ``skl2onnx.to_onnx`` and ``skl2onnx.convert_sklearn`` convert
    a fitted :class:`BoostResNetClassifier`, :class:`BoostResNetRegressor`,
    :class:`ResNetClassifier` or :class:`ResNetRegressor`, alone or as the
    last step of a :class:`~sklearn.pipeline.Pipeline` (behind a
    :class:`~sklearn.compose.ColumnTransformer`, for example). Each is
    registered with a parser, a shape calculator and a converter, and with
    the options ``stages`` (``False`` or ``True``: an extra output
    ``stages`` with every stage's scores) and, for the classifiers,
    skl2onnx's ``zipmap`` (``True``, ``False`` or ``"columns"``; skl2onnx
    turns it on by default, as for its own classifiers: pass
    ``options={id(classifier): {"zipmap": False}}`` for the outputs
    ``label`` and ``probabilities``). Calling it again changes nothing;
    :meth:`BoostResNetClassifier.to_onnx` calls it.

    Raises
    ------
    ImportError
        If skl2onnx or onnx is not installed (the ``onnx`` extra).

    See Also
    --------
    BoostResNetClassifier.to_onnx : Export one fitted estimator.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_resboost import BoostResNetClassifier, register_onnx_converters
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = BoostResNetClassifier(n_estimators=2, width=16, hidden_size=16,
    ...                             device="cpu", random_state=0)
    >>> pipe = make_pipeline(StandardScaler(), clf).fit(X, y)
    >>> register_onnx_converters()  # doctest: +SKIP
    >>> import skl2onnx  # doctest: +SKIP
    >>> onx = skl2onnx.to_onnx(pipe, X[:1].astype("float32"),
    ...                        options={id(clf): {"zipmap": False}})  # doctest: +SKIP
    >>> [output.name for output in onx.graph.output]  # doctest: +SKIP
    ['label', 'probabilities']
    """
    skl2onnx = _require("skl2onnx", "register_onnx_converters")
    _require("onnx", "register_onnx_converters")
    # The package's estimators, as the file format registers them: importing
    # their modules from here would run an import back up the house.
    for cls in _ESTIMATORS.values():
        options = {"stages": [False, True]}
        if issubclass(cls, ClassifierMixin):
            options.update(zipmap=[True, False, "columns"], nocl=[False, True])
        skl2onnx.update_registered_converter(
            cls, f"SklearnResboost{cls.__name__}", _shapes, _convert,
            parser=_parse, options=options,
        )  # fmt: skip


# -- inputs -----------------------------------------------------------------------


def _input_specs(model):
    """``[(name, element type)]`` of an ONNX model's or a session's inputs.

    The element type is ``"string"``, ``"float"``, ``"double"``, ``"int64"``, ...
    """
    if hasattr(model, "get_inputs"):
        return [(i.name, i.type[len("tensor(") : -1]) for i in model.get_inputs()]
    from onnx import helper

    initializers = {tensor.name for tensor in model.graph.initializer}
    specs = []
    for value in model.graph.input:
        if value.name not in initializers:
            dtype = helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type)
            specs.append((value.name, "string" if dtype.kind == "O" else dtype.name))
    return specs


def _as_type(values, element_type):
    """A 1-D or 2-D column of values as an input tensor of ``element_type``."""
    if element_type == "string":
        values = np.asarray(values, dtype=object)
        missing = missing_values(values.ravel()).reshape(values.shape)
        text = np.where(missing, MISSING_TEXT, values)
        return np.vectorize(str, otypes=[object])(text) if text.size else text
    dtype = np.dtype("float32" if element_type == "float" else element_type)
    if hasattr(values, "to_numpy"):
        # pandas: pd.NA and None become NaN in float columns.
        if dtype.kind == "f":
            return values.to_numpy(dtype=dtype, na_value=np.nan)
        return values.to_numpy(dtype=dtype)
    values = np.asarray(values)
    if values.dtype.kind == "O" and dtype.kind == "f":
        missing = missing_values(values.ravel()).reshape(values.shape)
        values = np.where(missing, np.nan, values)
    return values.astype(dtype)


def onnx_feed(X, model):
    """The input dict of an exported model for the rows ``X``, as ``predict`` takes them.

    A model with one input gets ``X`` as a 2-D array of that input's type
    (float32 for :meth:`BoostResNetClassifier.to_onnx`, missing values as
    NaN). A model with one input per column (an estimator fitted on a
    DataFrame with categorical columns, or skl2onnx's conversion of a
    pipeline on a DataFrame) gets each column of ``X`` by name (or by
    position for an array) as an array of shape ``(n_samples, 1)`` of the
    input's type: text columns as strings, a missing value as
    :data:`MISSING_TEXT` (``""``), numeric columns as numbers, a missing
    value as NaN. The function needs numpy (and pandas for a DataFrame)
    only; the docs' page "Serving with ONNX" gives the same recipe for a
    process without the package.

    Parameters
    ----------
    X : {array-like, DataFrame} of shape (n_samples, n_features)
        The rows to predict.
    model : onnxruntime.InferenceSession or onnx.ModelProto
        The exported model, or a session running it.

    Returns
    -------
    feed : dict of str to ndarray
        The inputs of ``session.run(None, feed)``.

    Raises
    ------
    ValueError
        If ``X`` lacks a column the model takes.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from sklearn_resboost import BoostResNetClassifier, onnx_feed
    >>> X = pd.DataFrame({"x": np.arange(40.0), "c": pd.Series(list("ab") * 20,
    ...                                                       dtype="category")})
    >>> clf = BoostResNetClassifier(n_estimators=1, width=8, hidden_size=8, device="cpu",
    ...                             random_state=0).fit(X, np.arange(40) % 2)
    >>> onx = clf.to_onnx()  # doctest: +SKIP
    >>> feed = onnx_feed(X.head(2), onx)  # doctest: +SKIP
    >>> {name: (value.dtype.kind, value.shape) for name, value in feed.items()}
    ... # doctest: +SKIP
    {'x': ('f', (2, 1)), 'c': ('O', (2, 1))}
    """
    specs = _input_specs(model)
    frame = is_frame(X)
    if len(specs) == 1 and not (frame and specs[0][0] in X.columns):
        name, element_type = specs[0]
        return {name: _as_type(X if frame else np.asarray(X), element_type)}
    feed = {}
    array = None if frame else np.asarray(X, dtype=object)
    for position, (name, element_type) in enumerate(specs):
        if frame:
            if name not in X.columns:
                raise ValueError(f"The ONNX model takes a column {name!r}, which X lacks.")
            column = X[name]
            if hasattr(column, "cat"):
                column = column.astype(object)
        else:
            if array.ndim != 2 or position >= array.shape[1]:
                raise ValueError(
                    f"The ONNX model takes {len(specs)} columns; X has shape {array.shape}."
                )
            column = array[:, position]
        feed[name] = _as_type(column, element_type).reshape(-1, 1)
    return feed


# -- the estimators' method --------------------------------------------------------


class OnnxMixin:
    """Adds :meth:`to_onnx` to the fitted estimators."""

    def _onnx_initial_types(self):
        """skl2onnx's ``initial_types``: one float input ``X``, or one input per column."""
        from skl2onnx.common.data_types import FloatTensorType, StringTensorType

        if not _per_column_inputs(self):
            return [("X", FloatTensorType([None, self.n_features_in_]))]
        levels = iter(self.categories_)
        types = []
        for name, categorical in zip(self.feature_names_in_, self.is_categorical_):
            text = categorical and _text_levels(next(levels))
            types.append((str(name), (StringTensorType if text else FloatTensorType)([None, 1])))
        return types

    def to_onnx(self, path=None, *, stages=False, target_opset=None):
        """Export the fitted estimator as an ONNX model, to predict without torch.

        The graph takes what ``predict`` takes and computes, in float32,
        what the prediction methods return: the input standardisation, the
        missing values, the categories (an unseen one as an infrequent
        one), the network, the class labels and the regressor's output
        units are all inside it. It runs on onnxruntime (or any ONNX
        runtime with the ``ai.onnx.ml`` domain), in any language.

        Inputs: for an estimator fitted on an array (or on a DataFrame
        without categorical columns), one float32 tensor ``X`` of shape
        ``(n_samples, n_features_in_)``, a missing value as NaN. For one
        fitted on a DataFrame with categorical columns, one input per
        column, named after it, of shape ``(n_samples, 1)``: a string
        tensor for a column of text categories (a missing value as
        ``""``), float32 for the others (NaN missing);
        :func:`~sklearn_resboost.onnx_feed` builds them from a DataFrame.

        Outputs: a classifier's ``label`` (``predict``; int64, string or
        float64 as ``classes_``) and ``probabilities`` (``predict_proba``,
        float32 of shape ``(n_samples, n_classes_)``); a regressor's
        ``variable`` (``predict``, float32 of shape ``(n_samples,
        n_outputs_)``, also for a 1-D ``y``, as skl2onnx's regressors).
        With ``stages=True``, also ``stages``, float32 of shape
        ``(n_blocks + 1, n_samples, K)``: the raw scores of every stage's
        head (a classifier's decision scores, ``K = 1`` for two classes; a
        regressor's predictions), stage 0 first, so that ``stages[1:]`` are
        the staged methods' values of a boosted estimator.

        Parameters
        ----------
        path : str, path-like or None, default=None
            Where to write the model (``.onnx`` is the customary suffix); it
            is overwritten. None writes nothing.
        stages : bool, default=False
            Whether the model also outputs every stage's scores, in the same
            pass.
        target_opset : int or None, default=None
            The opset of the default ONNX domain, >= 17 (LayerNormalization);
            None: the newest skl2onnx supports.

        Returns
        -------
        model : onnx.ModelProto
            The model, for ``onnxruntime.InferenceSession(
            model.SerializeToString())``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If the network has custom blocks (a ``block`` callable): only
            :class:`~sklearn_resboost.MLPBlock` and
            :class:`~sklearn_resboost.ConvBlock` networks can be exported;
            or if ``target_opset`` is below 17.
        ImportError
            If onnx or skl2onnx is not installed (the ``onnx`` extra,
            ``pip install 'sklearn-resboost[onnx]'``).

        See Also
        --------
        sklearn_resboost.register_onnx_converters : Convert pipelines with skl2onnx.
        sklearn_resboost.onnx_feed : The model's inputs from a DataFrame or an array.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_resboost import BoostResNetClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> X = X.astype(np.float32)
        >>> clf = BoostResNetClassifier(n_estimators=2, width=16, hidden_size=16,
        ...                             device="cpu", random_state=0).fit(X, y)
        >>> onx = clf.to_onnx()  # doctest: +SKIP
        >>> import onnxruntime  # doctest: +SKIP
        >>> session = onnxruntime.InferenceSession(onx.SerializeToString())  # doctest: +SKIP
        >>> label, proba = session.run(None, {"X": X})  # doctest: +SKIP
        >>> bool((label == clf.predict(X)).all())  # doctest: +SKIP
        True
        """
        check_is_fitted(self)
        skl2onnx = _require("skl2onnx", "to_onnx")
        _check_exportable(self)
        register_onnx_converters()
        options = {"stages": bool(stages)}
        if is_classifier(self):
            options["zipmap"] = False
        model = skl2onnx.convert_sklearn(
            self,
            name=type(self).__name__,
            initial_types=self._onnx_initial_types(),
            options={id(self): options},
            target_opset=target_opset,
        )
        if path is not None:
            with open(fspath(path), "wb") as file:
                file.write(model.SerializeToString())
        return model
