"""The safe file format: save and load fitted estimators without running code on load.

The safe format is a single `safetensors <https://huggingface.co/docs/safetensors>`_
file. Its tensors are the network's ``state_dict`` (``module.*``) and the numeric
arrays among the estimator's parameters and fitted attributes
(``params.*``, ``attributes.*``). Its metadata holds one JSON document with
everything else: the estimator's class name, its parameters, its fitted
attributes, a description of the network from which the network is rebuilt,
the format version and the versions that wrote the file, and a SHA-256 digest
of the document and the tensors. Loading parses JSON and raw tensors only,
looks the class up among the estimator classes that registered themselves
(:func:`register_estimator`) and rebuilds the network from the package's own
modules, so a file can change numbers but never run code. The format knows
the estimators only through that registry and the fitted state each class
declares (``_fitted_schema``); it imports none of them.

The safetensors header is parsed here rather than by ``safetensors.safe_open``,
which needs a file on disk: ``load`` also reads file objects, and the header is
checked (foreign formats, nesting depth) before any tensor is read.
"""

import contextlib
import hashlib
import json
import math
import os
import pickle
import re
import secrets
from collections.abc import Callable
from os import fspath
from typing import NamedTuple

import numpy as np
import safetensors.numpy
import torch
from safetensors import SafetensorError
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from . import _losses
from ._device import available_device, resolve_device
from ._modules import (
    MAX_NUMERIC_BINS,
    STRIDES,
    ConvBlock,
    ConvHead,
    ConvStem,
    FlattenHead,
    MLPBlock,
    ResNet,
    Stem,
    block_strides,
    conv_block_sizes,
    conv_stage_shapes,
    state_shapes,
)
from ._tables import cardinalities
from ._version import __version__

#: Version of the file layout written by :func:`save`; :func:`load` reads
#: this version and older ones.
FORMAT_VERSION = 1
_FORMAT_NAME = "sklearn_resboost"
_DOCUMENT_KEY = "sklearn_resboost"
_DIGEST_KEY = "sklearn_resboost.sha256"
# The header of a safetensors file is a little-endian u64 length, then JSON.
_LENGTH_BYTES = 8

_LOSSES = {
    cls.__name__: cls
    for cls in (
        _losses.BinaryExponentialLoss,
        _losses.MultinomialExponentialLoss,
        _losses.BinaryLogLoss,
        _losses.MultinomialLogLoss,
        _losses.SquaredError,
        _losses.AbsoluteError,
        _losses.HuberLoss,
    )
}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Saved values nest a few levels (a loss in an attribute, records in a
# history); far deeper nesting is a forged file.
_MAX_DEPTH = 32
# Largest length of one array axis a file may claim.
_MAX_AXIS = np.iinfo(np.int32).max
_NUMERIC_KINDS = "biuf"


# The estimator classes a file may name, by name: filled by the classes
# themselves (register_estimator), so that the format imports no estimator.
_ESTIMATORS = {}


def register_estimator(cls):
    """Class decorator: let the safe format save and load ``cls``."""
    _ESTIMATORS[cls.__name__] = cls
    return cls


# -- writing -------------------------------------------------------------------


class _Encoder:
    """Turn Python values into JSON, moving numeric arrays into ``tensors``."""

    def __init__(self):
        self.tensors = {}

    def _tensor(self, path, array):
        name = path
        while name in self.tensors:
            name = f"{path}#{len(self.tensors)}"
        self.tensors[name] = np.ascontiguousarray(array)
        return name

    def encode(self, value, path):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)) and type(value) in (int, float):
            return value
        if isinstance(value, np.generic) and value.dtype.kind in _NUMERIC_KINDS:
            return {"__type__": "scalar", "dtype": value.dtype.str, "value": value.item()}
        if isinstance(value, np.ndarray):
            return self._array(value, path)
        if isinstance(value, torch.device):
            return {"__type__": "device", "value": str(value)}
        if isinstance(value, np.random.RandomState):
            _, keys, pos, has_gauss, cached_gaussian = value.get_state()
            return {
                "__type__": "random_state",
                "keys": self._tensor(path + ".keys", keys),
                "pos": int(pos),
                "has_gauss": int(has_gauss),
                "cached_gaussian": float(cached_gaussian),
            }
        if type(value) in _LOSSES.values():
            return {
                "__type__": "loss",
                "class": type(value).__name__,
                "state": self.encode(dict(vars(value)), path),
            }
        if isinstance(value, tuple):
            return {
                "__type__": "tuple",
                "items": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)],
            }
        if isinstance(value, list):
            return [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            plain = all(isinstance(k, str) and not k.startswith("__") for k in value)
            if plain:
                return {k: self.encode(v, f"{path}.{k}") for k, v in value.items()}
            return {
                "__type__": "dict",
                "items": [
                    [self.encode(k, f"{path}.key{i}"), self.encode(v, f"{path}.value{i}")]
                    for i, (k, v) in enumerate(value.items())
                ],
            }
        raise ValueError(
            f"{path} is a {type(value).__module__}.{type(value).__qualname__}, which the "
            "safe format cannot store; use pickle or joblib for this model."
        )

    def _array(self, array, path):
        kind = array.dtype.kind
        if kind in _NUMERIC_KINDS:
            return {"__type__": "ndarray", "tensor": self._tensor(path, array)}
        if kind == "U":
            return {
                "__type__": "str_array",
                "dtype": array.dtype.str,
                "shape": list(array.shape),
                "values": array.ravel().tolist(),
            }
        if kind == "O":
            return {
                "__type__": "object_array",
                "shape": list(array.shape),
                "values": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(array.ravel())],
            }
        raise ValueError(
            f"{path} is an array of dtype {array.dtype}, which the safe format cannot store."
        )


def describe_network(module):
    """The description of a network from which :func:`build_network` rebuilds it.

    Raises a ``ValueError`` for a network with custom blocks. A convolutional
    network adds its ``block``, ``image_shape``, ``head_pooling`` and
    ``strides``; an MLP network adds its stem's ``numeric_bins`` (None
    without the piecewise-linear encoding) to the description files have
    always had.
    """
    blocks = list(module.blocks)
    conv = isinstance(module.stem, ConvStem)
    block_type = ConvBlock if conv else MLPBlock
    if any(type(block) is not block_type for block in blocks):
        raise ValueError(
            "The network has custom blocks (block is a callable). A custom block is "
            "code, which the safe format never stores or runs; use pickle or joblib "
            "for this model."
        )
    width = module.stem.width
    # A convolutional block's hidden channels grow with its output's: its
    # size is read for a block of width output channels.
    sizes = {
        (
            block.conv1.out_channels * width // block.conv2.out_channels
            if conv
            else block.linear1.out_features,
            block.dropout.p,
        )
        for block in blocks
    }
    if len(sizes) > 1:
        raise ValueError("The network's blocks differ in size; the safe format needs equal blocks.")
    hidden_size, dropout = sizes.pop() if sizes else (None, 0.0)
    shape = {} if conv else {"numeric_bins": module.stem.numeric_bins}
    if conv:
        pooling = "flatten" if isinstance(module.heads[0], FlattenHead) else "average"
        shape = {
            "block": "conv",
            "image_shape": list(module.stem.image_shape),
            "head_pooling": pooling,
            "strides": [block.stride for block in blocks],
        }
    return {
        **shape,
        "n_features": module.stem.n_features,
        "width": width,
        "hidden_size": hidden_size,
        "dropout": float(dropout),
        "n_blocks": len(blocks),
        "n_heads": len(module.heads),
        "n_outputs": int(module.output_scale.numel()),
        "learning_rate": float(module.learning_rate),
        "skip": bool(module.skip),
        "cardinalities": list(module.stem.cardinalities),
    }


def _digest(document_json, tensors):
    digest = hashlib.sha256(document_json.encode("utf-8"))
    for name in sorted(tensors):
        array = tensors[name]
        little = array.astype(array.dtype.newbyteorder("<"), copy=False)
        header = json.dumps([name, little.dtype.str, list(array.shape)])
        digest.update(header.encode("utf-8"))
        digest.update(np.ascontiguousarray(little).tobytes())
    return digest.hexdigest()


def save(estimator, path):
    """Save a fitted estimator of this package in the safe format.

    See :meth:`BoostResNetClassifier.save`; this is the function it calls.
    """
    import sklearn


    if _ESTIMATORS.get(type(estimator).__name__) is not type(estimator):
        raise ValueError(f"{type(estimator).__name__} is not an estimator of sklearn_resboost.")
    check_is_fitted(estimator)
    params = estimator.get_params(deep=False)
    if callable(params.get("block")):
        raise ValueError(
            "block is a callable: a custom block is code, which the safe format never "
            "stores or runs. Use pickle or joblib to save this model."
        )
    if params.get("callbacks") is not None:
        raise ValueError(
            "callbacks holds skorch callbacks, which are code; the safe format cannot "
            "store them. Set callbacks=None with set_params before saving, or use "
            "pickle or joblib."
        )
    network = describe_network(estimator.module_)
    encoder = _Encoder()
    attributes = {
        name: value
        for name, value in vars(estimator).items()
        if name not in params and name != "module_"
    }
    document = {
        "format": _FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "versions": {
            "sklearn_resboost": __version__,
            "scikit-learn": sklearn.__version__,
            "torch": torch.__version__,
        },
        "estimator": type(estimator).__name__,
        "params": {name: encoder.encode(value, f"params.{name}") for name, value in params.items()},
        "attributes": {
            name: encoder.encode(value, f"attributes.{name}") for name, value in attributes.items()
        },
        "network": network,
    }
    tensors = dict(encoder.tensors)
    for name, tensor in estimator.module_.state_dict().items():
        tensors[f"module.{name}"] = tensor.detach().cpu().numpy()
    document_json = json.dumps(document, sort_keys=True)
    metadata = {_DOCUMENT_KEY: document_json, _DIGEST_KEY: _digest(document_json, tensors)}
    data = safetensors.numpy.save(tensors, metadata=metadata)
    if hasattr(path, "write"):
        path.write(data)
    else:
        _write_atomically(fspath(path), data)


def _write_atomically(path, data):
    """Write ``data`` to ``path`` through a temporary file that replaces it when complete."""
    folder, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
    # 0o666 less the umask, as open() would create the file.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


# -- reading -------------------------------------------------------------------


def _corrupt(path, problem):
    return ValueError(f"{_name(path)} is not a valid sklearn_resboost model file: {problem}.")


def _name(path):
    """How messages name ``path``: the path itself, or a file object's name."""
    if hasattr(path, "read"):
        return getattr(path, "name", "the file object")
    return path


# Openings of the files a user may take for a model file, and how to load them.
_PICKLE = "a pickle file (pickle.dump or an uncompressed joblib.dump writes these)"
_FOREIGN_FORMATS = [
    (b"\x1f\x8b", "a gzip-compressed file (joblib.dump with compress writes these)"),
    (b"x", "a zlib-compressed file (joblib.dump with compress writes these)"),
    (b"BZh", "a bz2-compressed file (joblib.dump with compress writes these)"),
    (b"\xfd7zXZ", "an xz-compressed file (joblib.dump with compress writes these)"),
    (b"]\x00\x00", "an lzma-compressed file (joblib.dump with compress writes these)"),
    (b"\x04\x22\x4d\x18", "an lz4-compressed file (joblib.dump with compress writes these)"),
    (b"PK\x03\x04", "a zip archive (torch.save writes these)"),
]


def _foreign_format(data):
    """What ``data`` is when it is a known file type other than safetensors, else None."""
    # A safetensors file opens with the header length and then "{"; a few
    # bytes are too few to tell a truncated model file from anything else.
    if len(data) < 2 * _LENGTH_BYTES or data[_LENGTH_BYTES : _LENGTH_BYTES + 1] == b"{":
        return None
    if data[0] == 0x80 and 2 <= data[1] <= pickle.HIGHEST_PROTOCOL:
        return _PICKLE
    for magic, kind in _FOREIGN_FORMATS:
        if data.startswith(magic):
            return kind
    return None


def _parse_json(text, path, what):
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _corrupt(path, f"{what} is not valid JSON ({exc})") from None
    except RecursionError:
        raise _corrupt(path, f"{what} is nested too deeply") from None


def _read(path):
    """Return the JSON document and the tensors of the file, checked for integrity."""
    if hasattr(path, "read"):
        data = path.read()
        if not isinstance(data, bytes):
            raise TypeError(
                f"load needs a path or a file object opened in binary mode; "
                f"{_name(path)!r} gave {type(data).__name__}."
            )
    else:
        with open(fspath(path), "rb") as file:
            data = file.read()
    foreign = _foreign_format(data)
    if foreign is not None:
        raise _corrupt(
            path,
            f"it is {foreign}. Load it with joblib.load (or pickle.load, torch.load), "
            "and only from a source you trust: loading such a file runs code from it",
        )
    if len(data) < _LENGTH_BYTES:
        raise _corrupt(path, "the file is truncated (no safetensors header)")
    length = int.from_bytes(data[:_LENGTH_BYTES], "little")
    if length > len(data) - _LENGTH_BYTES:
        raise _corrupt(path, "the file is truncated (its header is incomplete)")
    header = _parse_json(
        data[_LENGTH_BYTES : _LENGTH_BYTES + length], path, "its safetensors header"
    )
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict) or _DOCUMENT_KEY not in metadata:
        raise _corrupt(path, "it has no sklearn_resboost metadata")
    if not isinstance(metadata[_DOCUMENT_KEY], str):
        raise _corrupt(path, "its metadata is not a JSON string")
    document = _parse_json(metadata[_DOCUMENT_KEY], path, "its metadata")
    if not isinstance(document, dict) or document.get("format") != _FORMAT_NAME:
        raise _corrupt(path, "its metadata is not an sklearn_resboost document")
    version = document.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _corrupt(path, f"format_version {version!r} is not a positive integer")
    if version > FORMAT_VERSION:

        raise ValueError(
            f"{path} was written in format version {version} by a newer sklearn_resboost; "
            f"this version ({__version__}) reads format versions up to {FORMAT_VERSION}. "
            "Upgrade sklearn_resboost to load it."
        )
    try:
        tensors = safetensors.numpy.load(data)
    except (SafetensorError, ValueError, TypeError) as exc:
        raise _corrupt(path, f"its tensors cannot be read ({exc})") from None
    if metadata.get(_DIGEST_KEY) != _digest(metadata[_DOCUMENT_KEY], tensors):
        raise _corrupt(
            path,
            "its SHA-256 digest does not match its content; the file is corrupt or was "
            "modified after it was saved",
        )
    return document, tensors


class _Decoder:
    """Inverse of :class:`_Encoder`, accepting only the tagged forms it writes."""

    def __init__(self, path, tensors):
        self.path = path
        self.tensors = tensors
        self.used = set()
        self.depth = 0

    def error(self, where, problem):
        return _corrupt(self.path, f"{where}: {problem}")

    def tensor(self, name, where):
        if not isinstance(name, str) or name not in self.tensors:
            raise self.error(where, f"the tensor {name!r} is missing")
        if name in self.used:
            raise self.error(where, f"the tensor {name!r} is used twice")
        self.used.add(name)
        array = self.tensors[name]
        if array.dtype.kind not in _NUMERIC_KINDS:
            raise self.error(where, f"the tensor {name!r} has dtype {array.dtype}")
        return np.array(array)

    def expect(self, value, keys, where):
        if set(value) != set(keys):
            raise self.error(where, f"expected the fields {sorted(keys)}, got {sorted(value)}")

    def dtype(self, value, kinds, where):
        try:
            dtype = np.dtype(value)
        except (TypeError, ValueError):
            raise self.error(where, f"{value!r} is not a dtype") from None
        if not isinstance(value, str) or dtype.kind not in kinds:
            raise self.error(where, f"dtype {value!r} is not allowed here")
        return dtype

    def shape(self, value, size, where):
        # math.prod is exact where numpy's product would overflow and wrap.
        if not (
            isinstance(value, list)
            and len(value) <= _MAX_DEPTH
            and all(
                isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= _MAX_AXIS
                for d in value
            )
            and math.prod(value) == size
        ):
            raise self.error(where, f"shape {value!r} does not fit {size} values")
        return tuple(value)

    def decode(self, value, where):
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if self.depth >= _MAX_DEPTH:
            raise self.error(where, f"values are nested more than {_MAX_DEPTH} deep")
        self.depth += 1
        try:
            return self._decode_container(value, where)
        finally:
            self.depth -= 1

    def _decode_container(self, value, where):
        if isinstance(value, list):
            return [self.decode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, dict):
            raise self.error(where, f"unexpected JSON value {value!r}")
        kind = value.get("__type__")
        if kind is None:
            if any(k.startswith("__") for k in value):
                raise self.error(where, f"unexpected fields {sorted(value)}")
            return {k: self.decode(v, f"{where}.{k}") for k, v in value.items()}
        decoder = getattr(self, f"_decode_{kind}", None) if isinstance(kind, str) else None
        if decoder is None:
            raise self.error(where, f"unknown value type {kind!r}")
        try:
            return decoder(value, where)
        except ValueError:
            raise
        except (TypeError, KeyError, OverflowError) as exc:
            raise self.error(where, f"malformed {kind} ({exc})") from None

    def _decode_scalar(self, value, where):
        self.expect(value, {"__type__", "dtype", "value"}, where)
        dtype = self.dtype(value["dtype"], _NUMERIC_KINDS, where)
        if not isinstance(value["value"], (bool, int, float)):
            raise self.error(where, f"{value['value']!r} is not a number")
        return dtype.type(value["value"])

    def _decode_ndarray(self, value, where):
        self.expect(value, {"__type__", "tensor"}, where)
        return self.tensor(value["tensor"], where)

    def _decode_str_array(self, value, where):
        self.expect(value, {"__type__", "dtype", "shape", "values"}, where)
        dtype = self.dtype(value["dtype"], "U", where)
        values = value["values"]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise self.error(where, "a string array holds non-strings")
        # A wide dtype costs memory for every value; no saved array needs one
        # far wider than its longest value.
        longest = max(map(len, values), default=0)
        if dtype.itemsize // 4 > max(2 * longest, 256):
            raise self.error(where, f"dtype {value['dtype']!r} is wider than its values need")
        shape = self.shape(value["shape"], len(values), where)
        return np.array(values, dtype=dtype).reshape(shape)

    def _decode_object_array(self, value, where):
        self.expect(value, {"__type__", "shape", "values"}, where)
        values = value["values"]
        if not isinstance(values, list):
            raise self.error(where, "an object array holds no list")
        shape = self.shape(value["shape"], len(values), where)
        array = np.empty(len(values), dtype=object)
        for i, v in enumerate(values):
            array[i] = self.decode(v, f"{where}[{i}]")
        return array.reshape(shape)

    def _decode_device(self, value, where):
        self.expect(value, {"__type__", "value"}, where)
        try:
            device = torch.device(value["value"])
        except (RuntimeError, TypeError):
            raise self.error(where, f"{value['value']!r} is not a torch device") from None
        if device.type not in ("cpu", "cuda"):
            raise self.error(where, f"device {value['value']!r} is not supported")
        return device

    def _decode_random_state(self, value, where):
        self.expect(value, {"__type__", "keys", "pos", "has_gauss", "cached_gaussian"}, where)
        keys = self.tensor(value["keys"], where)
        state = np.random.RandomState()
        try:
            state.set_state(
                ("MT19937", keys, value["pos"], value["has_gauss"], value["cached_gaussian"])
            )
        except (TypeError, ValueError, IndexError) as exc:
            raise self.error(where, f"invalid random state ({exc})") from None
        return state

    def _decode_loss(self, value, where):
        self.expect(value, {"__type__", "class", "state"}, where)
        cls = _LOSSES.get(value["class"]) if isinstance(value["class"], str) else None
        if cls is None:
            raise self.error(where, f"unknown loss {value['class']!r}")
        state = self.decode(value["state"], where)
        # A name of the class (its methods) would be shadowed by data.
        if not isinstance(state, dict) or not all(
            _NAME.match(k) and not hasattr(cls, k) for k in state
        ):
            raise self.error(where, "malformed loss state")
        loss = cls.__new__(cls)
        loss.__dict__.update(state)
        return loss

    def _decode_tuple(self, value, where):
        self.expect(value, {"__type__", "items"}, where)
        if not isinstance(value["items"], list):
            raise self.error(where, "a tuple holds no list")
        return tuple(self.decode(v, f"{where}[{i}]") for i, v in enumerate(value["items"]))

    def _decode_dict(self, value, where):
        self.expect(value, {"__type__", "items"}, where)
        items = value["items"]
        if not isinstance(items, list) or not all(
            isinstance(item, list) and len(item) == 2 for item in items
        ):
            raise self.error(where, "a dict holds no list of pairs")
        result = {}
        for i, (k, v) in enumerate(items):
            key = self.decode(k, f"{where}.key{i}")
            try:
                result[key] = self.decode(v, f"{where}.value{i}")
            except TypeError:
                raise self.error(where, f"key {key!r} is not hashable") from None
        return result


def _positive_int(network, name, where, minimum=1):
    value = network.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _corrupt(where, f"network.{name} is {value!r}, not an integer >= {minimum}")
    return value


class _StateLayout:
    """Names and shapes of a described network's tensors, listed without building it.

    The parts (the stem and output buffers, one block, one head) are built on
    the meta device, which allocates nothing; the whole network repeats them.
    """

    def __init__(self, network, n_blocks, n_outputs, hidden_size, parts):
        self.parts, self.hidden_size = parts, hidden_size or 1
        self._shapes = {}
        with torch.device("meta"):
            root = ResNet(parts.stem(0.0), n_outputs, 1.0, network["skip"])
        self.root = state_shapes(root)
        self.block = self._part("block", 0) if n_blocks else {}
        self.head = self._part("head", 0)

    def _part(self, kind, t):
        # Blocks and heads of one stage have the same tensors: built once a stage.
        key = (kind, self.parts.stage(t))
        if key not in self._shapes:
            with torch.device("meta"):
                part = self.parts.block(t, self.hidden_size, 0.0) if kind == "block" else (
                    self.parts.head(t)
                )
            self._shapes[key] = state_shapes(part)
        return self._shapes[key]

    def count(self, n_blocks):
        return len(self.root) + n_blocks * len(self.block) + (n_blocks + 1) * len(self.head)

    def items(self, n_blocks):
        yield from self.root.items()
        for k in range(n_blocks):
            for name, shape in self._part("block", k).items():
                yield f"blocks.{k}.{name}", shape
        for k in range(n_blocks + 1):
            for name, shape in self._part("head", k).items():
                yield f"heads.{k}.{name}", shape


# The stem's tensors that files written before missing values and categories
# lack: zeros there (no categorical feature, no missing value learned).
_NEW_STEM_TENSORS = ("stem.missing", "stem.embedding", "stem.frequency")


class _NetworkParts:
    """Builders of a described network's stem, blocks and heads, MLP or convolutional.

    Block ``t`` of a convolutional network has stride ``strides[t]``, and the
    stage it reads has the shape ``shapes[t]``.
    """

    def __init__(
        self, cards, width, n_outputs, image_shape, head_pooling, strides, numeric_bins=None
    ):
        self.cards, self.width, self.n_outputs = cards, width, n_outputs
        self.numeric_bins = numeric_bins
        self.image_shape, self.head_pooling, self.strides = image_shape, head_pooling, strides
        self.shapes = None
        if image_shape is not None:
            self.shapes = conv_stage_shapes(image_shape, width, strides)

    def stage(self, t):
        """What block and head ``t`` are built from: the stage's shape and the block's stride."""
        if self.shapes is None:
            return None
        return self.shapes[t], self.strides[t] if t < len(self.strides) else None

    def stem(self, noise):
        if self.image_shape is None:
            return Stem(len(self.cards), self.width, noise, self.cards, self.numeric_bins)
        return ConvStem(self.image_shape, self.width, noise)

    def block(self, t, hidden_size, dropout):
        if self.image_shape is None:
            return MLPBlock(self.width, hidden_size, dropout)
        channels, hidden = conv_block_sizes(self.shapes, t, self.width, hidden_size)
        return ConvBlock(channels, hidden, dropout, self.strides[t])

    def head(self, t):
        if self.image_shape is None:
            return torch.nn.Linear(self.width, self.n_outputs)
        channels, height, image_width = self.shapes[t]
        if self.head_pooling == "average":
            return ConvHead(channels, self.n_outputs)
        return FlattenHead(channels * height * image_width, self.n_outputs)


def _image_shape(network, n_features, path):
    """The ``(C, H, W)`` of a described convolutional network, None for an MLP one."""
    if network.get("block") != "conv":
        raise _corrupt(path, f"network.block is {network.get('block')!r}, not 'conv'")
    shape = network["image_shape"]
    if (
        not isinstance(shape, list)
        or len(shape) != 3
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape)
        or int(np.prod(shape)) != n_features
    ):
        raise _corrupt(path, "network.image_shape is not (C, H, W) holding n_features pixels")
    return tuple(shape)


def _strides(network, n_blocks, path):
    """The strides of a described convolutional network's blocks.

    Files written before downsampling blocks have none: every stride is 1.
    """
    strides = network.get("strides", [1] * n_blocks)
    if (
        not isinstance(strides, list)
        or len(strides) != n_blocks
        or not all(isinstance(s, int) and not isinstance(s, bool) and s in STRIDES for s in strides)
    ):
        raise _corrupt(path, "network.strides is not one stride, 1 or 2, per block")
    return tuple(strides)


def build_network(network, tensors, path):
    """Rebuild the network described by ``network`` with the ``module.*`` tensors.

    The described structure is checked against the file's tensor table (their
    number first, then names, shapes and dtypes) before any module is built,
    so that a tampered description costs no more time or memory than the
    file's own size.
    """
    if not isinstance(network, dict):
        raise _corrupt(path, "network is not a JSON object")
    expected = {
        "n_features", "width", "hidden_size", "dropout", "n_blocks",
        "n_heads", "n_outputs", "learning_rate", "skip", "cardinalities",
    }  # fmt: skip
    # Files written before categorical features have no cardinalities, and
    # MLP files written before the piecewise-linear encoding no numeric_bins.
    legacy = set(network) == expected - {"cardinalities"}
    mlp = set(network) in (expected, expected | {"numeric_bins"})
    conv_fields = expected | {"block", "image_shape", "head_pooling"}
    # Convolutional files written before downsampling blocks have no strides.
    conv = set(network) in (conv_fields, conv_fields | {"strides"})
    if not mlp and not legacy and not conv:
        raise _corrupt(path, f"network has the fields {sorted(network)}, not {sorted(expected)}")
    numeric_bins = network.get("numeric_bins")
    if numeric_bins is not None and (
        not isinstance(numeric_bins, int)
        or isinstance(numeric_bins, bool)
        or not 1 <= numeric_bins <= MAX_NUMERIC_BINS
    ):
        raise _corrupt(
            path,
            f"network.numeric_bins is {numeric_bins!r}, not null or in [1, {MAX_NUMERIC_BINS}]",
        )
    n_features = _positive_int(network, "n_features", path)
    image_shape = _image_shape(network, n_features, path) if conv else None
    head_pooling = network.get("head_pooling")
    if conv and head_pooling not in ("average", "flatten"):
        raise _corrupt(path, f"network.head_pooling is {head_pooling!r}, not 'average' or 'flatten'")
    cards = [0] * n_features if legacy else network["cardinalities"]
    if (
        not isinstance(cards, list)
        or len(cards) != n_features
        or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in cards)
        # Every code has a stored frequency: a forged count costs no more than the file.
        or sum(cards) > sum(array.size for array in tensors.values())
    ):
        raise _corrupt(path, "network.cardinalities is not one count >= 0 per feature")
    width = _positive_int(network, "width", path)
    n_blocks = _positive_int(network, "n_blocks", path, minimum=0)
    n_outputs = _positive_int(network, "n_outputs", path)
    if network["n_heads"] != n_blocks + 1 or isinstance(network["n_heads"], bool):
        raise _corrupt(path, f"network.n_heads is {network['n_heads']!r}, not n_blocks + 1")
    hidden_size = network["hidden_size"]
    if n_blocks:
        hidden_size = _positive_int(network, "hidden_size", path)
    dropout, learning_rate = network["dropout"], network["learning_rate"]
    if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0 <= dropout < 1:
        raise _corrupt(path, f"network.dropout is {dropout!r}, not in [0, 1)")
    if (
        not isinstance(learning_rate, (int, float))
        or isinstance(learning_rate, bool)
        or not 0 < learning_rate < float("inf")
    ):
        raise _corrupt(path, f"network.learning_rate is {learning_rate!r}, not positive")
    if not isinstance(network["skip"], bool):
        raise _corrupt(path, f"network.skip is {network['skip']!r}, not a boolean")

    if conv and any(cards):
        raise _corrupt(path, "a convolutional network has categorical features")
    strides = _strides(network, n_blocks, path) if conv else ()
    parts = _NetworkParts(
        cards, width, n_outputs, image_shape, head_pooling, strides, numeric_bins
    )
    layout = _StateLayout(network, n_blocks, n_outputs, hidden_size, parts)
    given = {name[len("module.") :] for name in tensors if name.startswith("module.")}
    # Counted before any name is listed: a forged block count must cost no
    # more than the file's own tensors.
    n_expected = layout.count(n_blocks)
    if n_expected > 2 * len(given) + len(layout.root) + len(layout.head):
        raise _corrupt(
            path,
            f"the file holds {len(given)} network tensors, but the described network "
            f"({n_blocks} blocks) has {n_expected}",
        )
    expected_state = dict(layout.items(n_blocks))
    if legacy:
        # Tensors a stem had no use for before missing values and categories.
        for name in _NEW_STEM_TENSORS:
            shape = expected_state.pop(name)
            tensors = {**tensors, f"module.{name}": np.zeros(shape, np.float32)}
    missing = sorted(set(expected_state) - given)
    unexpected = sorted(given - set(expected_state))
    if missing:
        raise _corrupt(path, f"the network's tensors {missing} are missing")
    if unexpected:
        raise _corrupt(path, f"the tensors {unexpected} do not belong to the described network")
    state = {}
    for name, shape in expected_state.items():
        array = tensors[f"module.{name}"]
        if tuple(array.shape) != shape:
            raise _corrupt(
                path,
                f"the tensor module.{name} has shape {tuple(array.shape)}, but the described "
                f"network needs {shape}",
            )
        if array.dtype != np.float32:
            raise _corrupt(path, f"the tensor module.{name} has dtype {array.dtype}, not float32")
        state[name] = torch.from_numpy(np.array(array))
    if legacy:
        state.update({name: torch.from_numpy(tensors[f"module.{name}"]) for name in _NEW_STEM_TENSORS})
    with torch.device("meta"):
        module = ResNet(parts.stem(0.0), n_outputs, learning_rate, network["skip"])
        for t in range(n_blocks):
            module.blocks.append(parts.block(t, hidden_size, dropout))
        for t in range(n_blocks + 1):
            module.heads.append(parts.head(t))
    module.load_state_dict(state, strict=True, assign=True)
    return module.eval()


# Parameters added since files were first written whose default is not what a
# model without them did: a file or a pickle that lacks one was fitted with
# this value, not with the default.
VALUES_BEFORE_PARAMETERS = {"numeric_bins": None}

# Attributes that files of format version 1 written before 0.1.0's release
# carry and that are now read from the network (the regressors' target
# offset and scale are its output_offset and output_scale): read and dropped.
_LEGACY_ATTRIBUTES = {
    "BoostResNetRegressor": ("_target_offset", "_target_scale"),
    "ResNetRegressor": ("_target_offset", "_target_scale"),
}

def _is_int(value, minimum=0):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) and (
        value >= minimum
    )


def _is_float_vector(value):
    return isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind == "f"


def _are_labels(value):
    from sklearn.utils.multiclass import type_of_target

    return (
        isinstance(value, np.ndarray)
        and value.ndim == 1
        and len(value) >= 2
        and value.dtype.kind in "biufU"
        and type_of_target(value) in ("binary", "multiclass")
        and np.array_equal(np.unique(value), value)
    )


def _are_levels(value):
    return (
        isinstance(value, np.ndarray)
        and value.ndim == 1
        and value.dtype.kind in "fU"
        and (value.dtype.kind == "U" or np.isfinite(value).all())
        and np.array_equal(np.unique(value), value)
    )


class FittedKind(NamedTuple):
    """What a restored value of one kind of fitted state must be.

    ``check(value, estimator)`` tells whether it is; ``problem`` completes the
    message when it is not, and ``shown`` says whether the value is short
    enough to show in it.
    """

    check: Callable
    problem: str = "is of the wrong type"
    shown: bool = False


# The kinds of fitted state an estimator class declares in its _fitted_schema
# ({attribute: kind}): a value of another kind would load, then break a
# prediction or a warm start far from the file. "network" (module_) is rebuilt
# from the tensors, never decoded.
FITTED_KINDS = {
    "network": FittedKind(lambda value, est: isinstance(value, torch.nn.Module)),
    "device": FittedKind(lambda value, est: isinstance(value, torch.device)),
    "count": FittedKind(lambda value, est: _is_int(value), "is not an integer >= 0", True),
    "positive": FittedKind(
        lambda value, est: _is_int(value, minimum=1), "is not an integer >= 1", True
    ),
    "ndim": FittedKind(
        lambda value, est: _is_int(value) and value in (1, 2), "is not 1 or 2", True
    ),
    "names": FittedKind(
        lambda value, est: isinstance(value, np.ndarray) and value.ndim == 1,
        "is not a 1-D array of names",
    ),
    "mask": FittedKind(
        lambda value, est: isinstance(value, np.ndarray) and value.ndim == 1
        and value.dtype == bool,
        "is not a 1-D boolean array",
    ),
    "categories": FittedKind(
        lambda value, est: isinstance(value, list) and all(_are_levels(v) for v in value),
        "is not a list of sorted, unique categories",
    ),
    "labels": FittedKind(
        lambda value, est: _are_labels(value), "are not sorted, unique class labels"
    ),
    # Losses of the prior and of every kept round (stages 0, ..., n_estimators_).
    "stage_losses": FittedKind(
        lambda value, est: _is_float_vector(value), "is not a 1-D float array"
    ),
    # One value per kept round.
    "round_values": FittedKind(
        lambda value, est: _is_float_vector(value), "is not a 1-D float array"
    ),
    "records": FittedKind(
        lambda value, est: isinstance(value, list) and all(isinstance(v, dict) for v in value),
        "is not a list of records",
    ),
    "random_state": FittedKind(
        lambda value, est: isinstance(value, np.random.RandomState), "is not a RandomState"
    ),
    "loss": FittedKind(lambda value, est: isinstance(value, _losses.BaseLoss)),
    "stop_reason": FittedKind(
        lambda value, est: isinstance(value, str) and value in est._stop_reasons,
        "is not a stop reason",
        True,
    ),
}


def _schema_problems(estimator, network):
    """What is wrong with the restored attributes, judged by the class's schema."""
    schema = type(estimator)._fitted_schema
    problems = []
    for name, kind in schema.items():
        if not hasattr(estimator, name):
            continue
        value = getattr(estimator, name)
        fitted_kind = FITTED_KINDS[kind]
        if not fitted_kind.check(value, estimator):
            shown = f"{name}={value!r}" if fitted_kind.shown else name
            problems.append(f"{shown} {fitted_kind.problem}")
    if problems:
        return problems
    n_kept = getattr(estimator, "n_estimators_", None)
    if n_kept is not None:
        for name, kind in schema.items():
            value = getattr(estimator, name, None)
            if value is None or kind not in ("stage_losses", "round_values"):
                continue
            expected = n_kept + (kind == "stage_losses")
            # Without early stopping there are no validation losses at all.
            if len(value) != expected and not (name == "validation_score_" and len(value) == 0):
                problems.append(f"{name} does not have one entry per stage")
        if getattr(estimator, "_n_rounds", n_kept) < n_kept:
            problems.append("_n_rounds is smaller than n_estimators_")
    if getattr(estimator, "_y_ndim", 2) == 1 and network["n_outputs"] != 1:
        problems.append("a 1-D target does not fit several network outputs")
    return problems


def _check_consistent(estimator, network, path):
    """Cross-check the restored attributes against the network and the parameters."""
    n_outputs = network["n_outputs"]
    problems = _schema_problems(estimator, network)
    if problems:
        raise _corrupt(path, "; ".join(problems))
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features != network["n_features"]:
        problems.append(f"n_features_in_={n_features!r} but the network has {network['n_features']}")
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None and names.shape != (n_features,):
        problems.append("feature_names_in_ does not match n_features_in_")
    loss = getattr(estimator, "_loss", None)
    if isinstance(estimator, ClassifierMixin):
        classes = getattr(estimator, "classes_", None)
        n_classes = getattr(estimator, "n_classes_", None)
        if classes is None or len(classes) != n_classes:
            problems.append("classes_ does not match n_classes_")
        elif n_outputs != (1 if n_classes == 2 else n_classes):
            problems.append(f"{n_classes!r} classes do not fit {n_outputs} network outputs")
        else:
            binary, multiclass = _losses.CLASSIFICATION_LOSSES[estimator.loss]
            expected_loss = binary if n_classes == 2 else multiclass
            if type(loss) is not expected_loss:
                problems.append(f"the loss {type(loss).__name__} does not fit loss={estimator.loss!r}")
    elif isinstance(estimator, RegressorMixin):
        if getattr(estimator, "n_outputs_", None) != n_outputs:
            problems.append(f"n_outputs_ does not match the network's {n_outputs} outputs")
        if type(loss) is not _losses.REGRESSION_LOSSES[estimator.loss]:
            problems.append(f"the loss {type(loss).__name__} does not fit loss={estimator.loss!r}")
    if loss is not None and getattr(loss, "n_outputs", None) != n_outputs:
        problems.append("the loss's n_outputs does not match the network")
    # The boosted estimators count their blocks in a fitted attribute, the
    # end-to-end ones in a parameter.
    if getattr(estimator, estimator._block_count, None) != network["n_blocks"]:
        problems.append(f"{estimator._block_count} does not match the network's blocks")
    if estimator.learning_rate != network["learning_rate"]:
        problems.append("learning_rate does not match the network")
    # The parameters build the blocks of a warm start; they must fit the network.
    shared = ["width", "skip"] + (["hidden_size", "dropout"] if network["n_blocks"] else [])
    for name in shared:
        if getattr(estimator, name, True) != network[name]:
            problems.append(f"{name} does not match the network")
    # A convolutional network has no encoding, whatever the parameter says.
    bins = None if network.get("block") == "conv" else getattr(estimator, "numeric_bins", None)
    if bins != network.get("numeric_bins"):
        problems.append("numeric_bins does not match the network")
    if (estimator.block == "conv") != (network.get("block") == "conv"):
        problems.append("block does not match the network")
    elif network.get("block") != "conv" and estimator.image_shape is not None:
        problems.append("image_shape is set, but the network is not convolutional")
    elif network.get("block") == "conv":
        image_shape = estimator.image_shape
        image_shape = [1, *image_shape] if len(image_shape or ()) == 2 else image_shape
        if list(image_shape or ()) != network["image_shape"]:
            problems.append("image_shape does not match the network")
        if estimator.head_pooling != network["head_pooling"]:
            problems.append("head_pooling does not match the network")
        n_blocks = network["n_blocks"]
        strides = block_strides(getattr(estimator, "strides", None) or (), n_blocks)
        if list(strides) != network.get("strides", [1] * n_blocks):
            problems.append("strides does not match the network")
    if not isinstance(getattr(estimator, "device_", None), torch.device):
        problems.append("device_ is not a torch device")
    mask = getattr(estimator, "is_categorical_", None)
    if mask is not None:
        if mask.shape != (n_features,):
            problems.append("is_categorical_ does not match n_features_in_")
        elif int(mask.sum()) != len(getattr(estimator, "categories_", [])):
            problems.append("categories_ does not have one entry per categorical feature")
        elif network.get("cardinalities", [0] * n_features) != cardinalities(
            mask, estimator.categories_
        ):
            problems.append("categories_ does not match the network's categorical features")
    if problems:
        raise _corrupt(path, "; ".join(problems))


def load(path, *, device=None):
    """Load an estimator saved with ``save`` (the safe format).

    No code from the file is executed: the file is parsed as JSON and raw
    tensors, the estimator class must be one of this package's estimators and
    the network is rebuilt from the package's own modules.

    Parameters
    ----------
    path : str, path-like or binary file object
        File written by ``estimator.save(path)``, or a file object opened
        for binary reading (``io.BytesIO``, ``open(..., "rb")``).
    device : str or None, default=None
        Device to put the network on (``"cpu"``, ``"cuda"``, ``"cuda:1"``,
        ``"auto"``). ``None`` uses the device the model was fitted on, or the
        CPU with a :class:`~sklearn_resboost.DeviceWarning` when that device
        is CUDA and CUDA is not available.

    Returns
    -------
    estimator : BoostResNetClassifier, BoostResNetRegressor, ResNetClassifier \
            or ResNetRegressor
        The fitted estimator, predicting exactly as the saved one did on the
        same device.

    Raises
    ------
    ValueError
        If the file is truncated, corrupt, modified after saving, written by a
        newer format version, names an unknown estimator class or an
        attribute the class does not have, or its tensors do not fit the
        described network. A pickle, joblib or ``torch.save`` file is named
        as such, with how to load it. Refusing a file costs time and memory
        in proportion to the file's size, whatever its description claims.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_resboost import BoostResNetClassifier, load
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = BoostResNetClassifier(n_estimators=2, width=16, hidden_size=16,
    ...                             device="cpu", random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "iris.safetensors")
    >>> clf.save(path)
    >>> bool((load(path).predict_proba(X) == clf.predict_proba(X)).all())
    True
    """
    document, tensors = _read(path)
    for field, kind in (("estimator", str), ("params", dict), ("attributes", dict)):
        if not isinstance(document.get(field), kind):
            raise _corrupt(path, f"its {field} field is missing or malformed")
    classes = _ESTIMATORS
    cls = classes.get(document["estimator"])
    if cls is None:
        raise _corrupt(
            path,
            f"unknown estimator class {document['estimator']!r}; expected one of "
            f"{sorted(classes)}",
        )
    decoder = _Decoder(path, tensors)
    params = decoder.decode(document["params"], "params")
    if not isinstance(params, dict):
        raise _corrupt(path, "its params field is not a mapping")
    known = cls().get_params(deep=False)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise _corrupt(path, f"{cls.__name__} has no parameters {unknown}")
    before = {name: value for name, value in VALUES_BEFORE_PARAMETERS.items() if name in known}
    estimator = cls(**{**before, **params})
    try:
        estimator._validate_params()
    except ValueError as exc:
        raise _corrupt(path, f"invalid parameters ({exc})") from None
    attributes = {}
    for name, value in document["attributes"].items():
        # Only the fitted state the class declares: any other name could
        # shadow a method or be read by code that never expects it.
        legacy = name in _LEGACY_ATTRIBUTES.get(cls.__name__, ())
        if name == "module_" or not (legacy or name in cls._fitted_schema):
            raise _corrupt(path, f"{name!r} is not a fitted attribute of {cls.__name__}")
        decoded = decoder.decode(value, f"attributes.{name}")
        if not legacy:
            attributes[name] = decoded
    module = build_network(document.get("network"), tensors, path)
    unused = sorted(
        name for name in set(tensors) - decoder.used if not name.startswith("module.")
    )
    if unused:
        raise _corrupt(path, f"the tensors {unused} are not referenced")
    for name, value in attributes.items():
        setattr(estimator, name, value)
    _check_consistent(estimator, document["network"], path)

    target = available_device(estimator.device_) if device is None else resolve_device(device)
    module.stem.noise = float(estimator.input_noise)
    estimator.module_ = module.to(target)
    estimator.device_ = target
    return estimator
