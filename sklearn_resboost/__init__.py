"""Residual networks as scikit-learn estimators, trained by boosting (BoostResNet)."""

from . import inspection
from ._boost import BoostResNetClassifier, BoostResNetRegressor
from ._device import DeviceWarning
from ._modules import ConvBlock, ConvHead, ConvStem, FlattenHead, MLPBlock, ResNet, Stem
from ._onnx import onnx_feed, register_onnx_converters
from ._persistence import load
from ._resnet import ResNetClassifier, ResNetRegressor
from ._version import __version__

__all__ = [
    "BoostResNetClassifier",
    "BoostResNetRegressor",
    "ConvBlock",
    "ConvHead",
    "ConvStem",
    "DeviceWarning",
    "FlattenHead",
    "MLPBlock",
    "ResNet",
    "ResNetClassifier",
    "ResNetRegressor",
    "Stem",
    "__version__",
    "inspection",
    "load",
    "onnx_feed",
    "register_onnx_converters",
]
