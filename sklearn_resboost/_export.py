"""The export of a fitted network as an initialized skorch net (``to_skorch``)."""

import copy

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetClassifier, NeuralNetRegressor
from torch import nn

from ._losses import BinaryExponentialLoss, MultinomialExponentialLoss


class SkorchModule(nn.Module):
    """A fitted network with the output a skorch net expects.

    Classifiers give logits for ``torch.nn.CrossEntropyLoss`` whose softmax is
    the estimator's ``predict_proba``: ``[0, z]`` for a single log-loss score,
    ``[-z, z]`` for a single exponential-loss score (``expit(2 z)``), ``2 z``
    for multiclass exponential-loss scores and ``z`` otherwise. Regressors
    give predictions in output units. The network is ``self.network``.

    Parameters
    ----------
    network : ResNet
        The network.
    output : {"binary_log_loss", "binary_exponential", "multiclass_exponential", \
            "scores"}
        How scores become skorch's output.
    """

    def __init__(self, network, output):
        super().__init__()
        self.network = network
        self.output = output

    def forward(self, X):
        z = self.network(X)
        if self.output == "binary_log_loss":
            return torch.cat([torch.zeros_like(z), z], dim=1)
        if self.output == "binary_exponential":
            return torch.cat([-z, z], dim=1)
        if self.output == "multiclass_exponential":
            return 2 * z
        return z


class OutputUnitsLoss(nn.Module):
    """A regressor's loss on predictions and targets in output units.

    Both are standardised with the network's ``output_offset`` and
    ``output_scale``, so that skorch minimises what the estimator minimised.
    """

    def __init__(self, loss, offset, scale):
        super().__init__()
        self.loss = loss
        self.register_buffer("offset", offset.detach().clone())
        self.register_buffer("scale", scale.detach().clone())

    def forward(self, y_pred, y_true):
        y_true = y_true.to(y_pred.dtype)
        w = torch.ones(len(y_pred), dtype=y_pred.dtype, device=y_pred.device)
        return self.loss.objective(
            (y_pred - self.offset) / self.scale, (y_true - self.offset) / self.scale, w
        )


class SkorchMixin:
    """Adds :meth:`to_skorch` to a fitted estimator with ``module_`` and ``_loss``."""

    #: Constructor parameter giving the default ``max_epochs`` of the skorch net.
    _skorch_epochs_parameter = "max_epochs"

    def _training_batch_size(self):
        """The batch size the estimator trained with."""
        return self.batch_size

    def to_skorch(self, **net_params):
        """Return an initialized skorch net around a copy of the fitted network.

        Training the net goes on from the fitted weights, with any skorch
        callback; the estimator itself is left unchanged. A classifier gives a
        ``skorch.NeuralNetClassifier`` with ``CrossEntropyLoss`` whose
        ``predict_proba`` equals the estimator's (up to float32 rounding); its
        ``classes_`` are the class *indices* ``0, ..., n_classes_ - 1``, as
        its ``predict`` returns, and ``partial_fit`` expects ``y`` encoded the
        same way (``numpy.searchsorted(estimator.classes_, y)``). A regressor
        gives a ``skorch.NeuralNetRegressor`` minimising the estimator's loss
        in standardised units; it wants a 2-D float32 ``y`` and predicts
        shape ``(n_samples, n_outputs)``. ``X`` must be float32.

        Parameters
        ----------
        **net_params : dict
            skorch parameters overriding the defaults: AdamW with the
            estimator's ``lr``, ``weight_decay`` and ``batch_size``, no
            internal validation split (``train_split=None``), the fitted
            network's device, ``verbose=0`` and ``max_epochs`` from the
            estimator's epochs parameter (10 when that is 0).

        Returns
        -------
        net : skorch.NeuralNetClassifier or skorch.NeuralNetRegressor
            The initialized net; ``net.module_.network`` is the copied
            :class:`~sklearn_resboost.ResNet`.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_resboost import BoostResNetClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> X = X.astype(np.float32)
        >>> clf = BoostResNetClassifier(n_estimators=2, width=16, hidden_size=16,
        ...                             device="cpu", random_state=0).fit(X, y)
        >>> net = clf.to_skorch(max_epochs=2)
        >>> bool(np.allclose(net.predict_proba(X), clf.predict_proba(X), atol=1e-6))
        True
        >>> net = net.partial_fit(X, np.searchsorted(clf.classes_, y))
        >>> len(net.history)
        2
        """
        check_is_fitted(self)
        network = copy.deepcopy(self.module_).eval()
        params = {
            "optimizer": torch.optim.AdamW,
            "lr": self.lr,
            "optimizer__weight_decay": self.weight_decay,
            "batch_size": self._training_batch_size(),
            "max_epochs": getattr(self, self._skorch_epochs_parameter) or 10,
            "train_split": None,
            "device": str(self.device_),
            "verbose": 0,
        }
        params.update(net_params)
        if isinstance(self, ClassifierMixin):
            if isinstance(self._loss, BinaryExponentialLoss):
                output = "binary_exponential"
            elif isinstance(self._loss, MultinomialExponentialLoss):
                output = "multiclass_exponential"
            elif self.n_classes_ == 2:
                output = "binary_log_loss"
            else:
                output = "scores"
            net = NeuralNetClassifier(
                SkorchModule(network, output),
                criterion=nn.CrossEntropyLoss,
                classes=np.arange(self.n_classes_).tolist(),
                **params,
            )
        else:
            criterion = OutputUnitsLoss(self._loss, network.output_offset, network.output_scale)
            net = NeuralNetRegressor(SkorchModule(network, "scores"), criterion=criterion, **params)
        return net.initialize()
