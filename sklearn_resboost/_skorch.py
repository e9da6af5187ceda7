"""End-to-end training of a network through skorch's training loop.

skorch's ``NeuralNet`` sets attributes in ``__init__`` and keeps fitted state
through ``clone``, so it cannot be the public estimator; it is used here as the
training loop only (of the end-to-end estimators and of fine-tuning).
"""

import copy
import math
import warnings
from functools import partial

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import Dataset
from skorch.helper import predefined_split
from torch import nn

from ._device import EVAL_BATCH_SIZE, autocast
from ._trainer import adamw, training_out_of_memory, weight_matrices


class TensorBatches:
    """Batches of a skorch ``Dataset`` of tensors, by slicing.

    skorch's default ``DataLoader`` indexes one row at a time and collates the
    rows again, which costs more than the forward pass of a small network.

    Parameters
    ----------
    dataset : skorch.dataset.Dataset
        Its ``X`` is a dict of tensors and its ``y`` a tensor or None.
    batch_size : int
        Rows per batch.
    shuffle : bool, default=False
        Draw a new permutation from torch's global generator every epoch.
    """

    def __init__(self, dataset, batch_size, shuffle=False):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle

    def __len__(self):
        return (len(self.dataset) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        X, y = self.dataset.X, self.dataset.y
        n = len(self.dataset)
        first = next(iter(X.values()))
        order = torch.randperm(n, device=first.device) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            idx = order[start:stop] if order is not None else slice(start, stop)
            yield {key: value[idx] for key, value in X.items()}, (None if y is None else y[idx])


class SupervisedStages(nn.Module):
    """Head-unit scores of a :class:`~sklearn_resboost.ResNet` for training.

    With ``all_stages`` the forward pass returns the scores of stages
    ``1, ..., T`` stacked, shape ``(T, n, K)``, so that every stage's head is
    supervised; otherwise the final stage's, shape ``(n, K)``. Stage 0 (the
    prior) is never trained.
    """

    def __init__(self, network, all_stages, mixed_precision=False):
        super().__init__()
        self.network = network
        self.all_stages = all_stages
        self.mixed_precision = mixed_precision

    def forward(self, x, sample_weight=None):
        enabled = self.mixed_precision and self.training
        with autocast(x.device, enabled):
            return self._scores(x).float()

    def _scores(self, x):
        network = self.network
        if not self.all_stages:
            return network.stage(x, network.n_blocks)[1]
        gs = list(network.representations(x))
        return torch.stack([head(g) for head, g in zip(network.heads[1:], gs[1:])])


class LossCriterion(nn.Module):
    """A package loss as a skorch criterion, on head-unit scores and encoded targets.

    Training batches are scaled by their mean weight over ``weight_scale``,
    the mean weight of all training rows, as the round trainer does, so that
    each batch is an unbiased estimate of the weighted objective. Stacked
    scores ``(T, n, K)`` give the mean of the stages' objectives.
    """

    def __init__(self, loss, weight_scale):
        super().__init__()
        self.loss = loss
        self.weight_scale = weight_scale

    def forward(self, z, y, w, training):
        # Validation batches are the whole validation set: no scaling.
        scale = self.weight_scale if training else w.mean()
        if z.ndim == 3:
            return torch.stack(
                [self.loss.batch_objective(stage, y, w, scale) for stage in z]
            ).mean()
        return self.loss.batch_objective(z, y, w, scale)


class WeightedNet(NeuralNet):
    """skorch net whose batches carry the sample weights next to the inputs."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.criterion_(y_pred, y_true, X["sample_weight"], training)


class TrainingGuard(Callback):
    """Early stopping that also survives divergence and interrupts.

    It keeps a copy of the network's best state: with validation rows, the
    epoch of the lowest validation loss (an improvement must exceed
    ``threshold``; training stops after ``patience`` epochs without one, as
    skorch's ``EarlyStopping`` does); without them, the last epoch. An epoch
    whose losses or parameters are not finite stops training and the best
    state is restored, as is the best state after an interrupt (Ctrl-C, which
    skorch's ``fit`` swallows) in the middle of an epoch. Before the first
    epoch, the best state is the one training started from.

    Parameters
    ----------
    validation : bool
        Whether skorch computes a ``valid_loss`` every epoch.
    patience : int
        Epochs without improvement of the validation loss before stopping.
    threshold : float
        Smallest decrease of the validation loss counted as an improvement.
    """

    def __init__(self, validation, patience, threshold):
        self.validation = validation
        self.patience = patience
        self.threshold = threshold

    def on_train_begin(self, net, **kwargs):
        # The validation loss an epoch must beat: the best one less threshold.
        self.to_beat_ = math.inf
        self.best_epoch_ = 0
        self.best_state_ = copy.deepcopy(net.module_.state_dict())
        self.misses_ = 0
        self.in_epoch_ = False
        self.stop_ = None

    def on_epoch_begin(self, net, **kwargs):
        self.in_epoch_ = True

    def on_epoch_end(self, net, **kwargs):
        self.in_epoch_ = False
        record = net.history[-1]
        losses = [record["train_loss"]] + ([record["valid_loss"]] if self.validation else [])
        finite = all(math.isfinite(loss) for loss in losses) and all(
            bool(torch.isfinite(p).all()) for p in net.module_.parameters()
        )
        if not finite:
            self.stop_ = "non_finite"
            # skorch's way to end training from a callback.
            raise KeyboardInterrupt
        if not self.validation:
            self.best_epoch_ = record["epoch"]
            self.best_state_ = copy.deepcopy(net.module_.state_dict())
            return
        if record["valid_loss"] < self.to_beat_:
            self.misses_ = 0
            self.to_beat_ = record["valid_loss"] - self.threshold
            self.best_epoch_ = record["epoch"]
            self.best_state_ = copy.deepcopy(net.module_.state_dict())
        else:
            self.misses_ += 1
        if self.misses_ == self.patience:
            self.stop_ = "early_stopping"
            if net.verbose:
                print(
                    f"Stopping since valid_loss has not improved in the last "
                    f"{self.patience} epochs."
                )
            raise KeyboardInterrupt

    def on_train_end(self, net, **kwargs):
        if self.in_epoch_:
            self.stop_ = "interrupted"
        last_epoch = net.history[-1]["epoch"] if len(net.history) else 0
        if self.stop_ in ("non_finite", "interrupted") or (
            self.validation and self.best_epoch_ != last_epoch
        ):
            net.module_.load_state_dict(self.best_state_)
            if net.verbose and self.stop_ in (None, "early_stopping"):
                print(f"Restoring best model from epoch {self.best_epoch_}.")


def check_callbacks(callbacks):
    """Refuse a ``callbacks`` list that skorch would fail on far from the cause."""
    for i, item in enumerate(callbacks or []):
        callback = item
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            callback = item[1]
        if not (
            isinstance(callback, Callback)
            or (isinstance(callback, type) and issubclass(callback, Callback))
        ):
            raise ValueError(
                "callbacks must be a list of skorch callbacks: skorch.callbacks.Callback "
                "instances or subclasses, or (name, callback) pairs; "
                f"callbacks[{i}] is {item!r}."
            )


def _adamw(param_groups, *, lr, weight_decay, decayed):
    """skorch's optimizer factory for :func:`~sklearn_resboost._trainer.adamw`."""
    params = (p for group in param_groups for p in group["params"])
    return adamw(params, decayed, lr=lr, weight_decay=weight_decay)


def _epoch_record(record):
    """An epoch of skorch's history as plain Python values, without its batches."""
    plain = {}
    for key, value in record.items():
        if isinstance(value, np.generic) and value.dtype.kind in "biuf":
            value = value.item()
        if value is None or isinstance(value, (bool, int, float, str)):
            plain[key] = value
    return plain


def train_network(
    network,
    loss,
    train,
    validation,
    *,
    all_stages,
    epochs,
    batch_size,
    lr,
    weight_decay,
    n_iter_no_change,
    tol,
    callbacks,
    mixed_precision,
    device,
    verbose,
    what="end-to-end training",
):
    """Train every parameter of ``network`` end to end with skorch, in place.

    Parameters
    ----------
    network : ResNet
        The network, on ``device``.
    loss : BaseLoss
        The package loss minimised on head-unit scores.
    train, validation : tuple of torch.Tensor or None
        ``(X, y, sample_weight)`` on ``device``; with validation rows, training
        stops once their loss has not improved by ``tol`` for
        ``n_iter_no_change`` epochs and the best epoch's weights are kept.
    all_stages : bool
        Supervise the heads of stages ``1, ..., T`` (mean of their losses)
        instead of the final head only.
    epochs, batch_size, lr, weight_decay, n_iter_no_change, tol
        Training settings; weight decay applies to the blocks' weight matrices.
    callbacks : list or None
        Further skorch callbacks; they are copied, never modified.
    mixed_precision : bool
        Forward passes of training under bfloat16 autocast on CUDA.
    device : torch.device
        Device of the network and the data.
    verbose : int
        skorch's verbosity (an epoch table when positive).
    what : str, default="end-to-end training"
        How warnings name this training.

    Returns
    -------
    history : list of dict
        skorch's epoch records, without the per-batch entries.

    Warns
    -----
    ConvergenceWarning
        When an epoch's loss or parameters are not finite: training stops
        and the network keeps its best state (see :class:`TrainingGuard`).
    UserWarning
        When training is interrupted (Ctrl-C): the network keeps its best
        state.
    """
    check_callbacks(callbacks)
    X, y, w = train
    decayed = weight_matrices(network.blocks)
    # The guard first: its epoch-end check runs before any callback that
    # stops training, so that an interrupt in an epoch is told from a stop.
    guard = TrainingGuard(validation is not None, n_iter_no_change, tol)
    net_callbacks = [("training_guard", guard)]
    net_callbacks += copy.deepcopy(list(callbacks)) if callbacks else []
    train_split = None
    if validation is not None:
        X_val, y_val, w_val = validation
        train_split = predefined_split(Dataset({"x": X_val, "sample_weight": w_val}, y_val))
    net = WeightedNet(
        SupervisedStages(network, all_stages, mixed_precision),
        criterion=LossCriterion(loss, w.mean().item()),
        optimizer=partial(_adamw, weight_decay=weight_decay, decayed=decayed),
        lr=lr,
        max_epochs=epochs,
        batch_size=batch_size,
        train_split=train_split,
        callbacks=net_callbacks,
        iterator_train=TensorBatches,
        iterator_train__shuffle=True,
        iterator_valid=TensorBatches,
        iterator_valid__batch_size=EVAL_BATCH_SIZE,
        device=str(device),
        verbose=verbose,
    )
    try:
        net.fit({"x": X, "sample_weight": w}, y)
    except torch.OutOfMemoryError as exc:
        raise training_out_of_memory(exc, "end-to-end training", batch_size) from exc
    network.eval()
    # An interrupted epoch leaves a record without its losses.
    history = [_epoch_record(record) for record in net.history if "train_loss" in record]
    kept = f"epoch {guard.best_epoch_}" if guard.best_epoch_ else "its state before training"
    if guard.stop_ == "non_finite":
        warnings.warn(
            f"{what.capitalize()} gave a non-finite loss in epoch {len(history)} and "
            f"stopped; the network keeps {kept}. Try a smaller lr.",
            ConvergenceWarning,
            stacklevel=4,
        )
    elif guard.stop_ == "interrupted":
        warnings.warn(
            f"{what.capitalize()} was interrupted during epoch {len(history) + 1}; the "
            f"network keeps {kept}.",
            UserWarning,
            stacklevel=4,
        )
    return history
