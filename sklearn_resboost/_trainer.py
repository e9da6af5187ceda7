"""The per-round trainer: minibatch optimisation of one block and its head."""

import copy
from contextlib import contextmanager

import torch
from torch.optim.swa_utils import get_ema_multi_avg_fn

from ._device import autocast, fetch

# A round stops when its monitored objective has not improved for this many
# epochs; the best epoch's parameters are kept.
ROUND_PATIENCE = 3

# A round's model is the exponential moving average of its parameters over the
# optimiser steps, with a horizon of this share of the round's step budget
# (the same share at any data size and number of epochs, so a one-epoch round
# is not pulled back to where it began): it smooths the minibatch noise of the
# last steps. Chosen at the default 10 epochs on digits splits other than those
# of the bars and the benchmarks: 2.5 epochs made 1.45 fewer errors per 450
# test rows than no averaging, 5 epochs 0.45 fewer.
AVERAGE_SHARE = 0.25

# Largest lr and weight_decay accepted: AdamW computes lr / (1 - beta1 ** step)
# (up to 10 lr) and lr * weight_decay as float32 scalars, and torch refuses
# scalars beyond float32's range with a RuntimeError.
MAX_OPTIMIZER_SCALAR = 1e18


def batched(n, batch_size):
    """Yield slices covering ``range(n)`` in chunks of ``batch_size``."""
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def map_batches(forward, n, batch_size):
    """``[forward(s) for s in batched(n, batch_size)]``, surviving out-of-memory errors.

    When a batch runs out of device memory, the CUDA cache is emptied and the
    batch is retried at half its size, down to one row; the smaller size is
    kept for the remaining batches. Out of memory with one row raises a
    ``torch.OutOfMemoryError`` that says so.
    """
    outputs = []
    start = 0
    while start < n:
        stop = min(start + batch_size, n)
        try:
            outputs.append(forward(slice(start, stop)))
        except torch.OutOfMemoryError as exc:
            if stop - start == 1:
                raise torch.OutOfMemoryError(
                    "Out of device memory during inference even with one row per batch: "
                    f"the network does not fit in the free memory of the device ({exc})."
                ) from exc
            batch_size = (stop - start) // 2
        else:
            start = stop
            continue
        # Outside the except block, so that the failed batch's tensors, which
        # its traceback keeps alive, are freed before the cache is emptied.
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return outputs


def training_out_of_memory(exc, where, batch_size):
    """The ``torch.OutOfMemoryError`` of training, saying what to lower."""
    return torch.OutOfMemoryError(
        f"Out of device memory in {where} with batch_size={batch_size} rows; use a "
        f"smaller batch_size (or a smaller width or hidden_size). {exc}"
    )


def weight_matrices(modules):
    """Ids of the weight matrices of ``modules``, the parameters that take weight decay."""
    return {
        id(param)
        for module in modules
        for name, param in module.named_parameters()
        if param.ndim > 1 and name.rsplit(".", 1)[-1] == "weight"
    }


def adamw(params, decayed, *, lr, weight_decay):
    """AdamW with weight decay on the parameters whose id is in ``decayed`` only.

    On CUDA the fused kernel updates every parameter in one launch.
    """
    params = list(params)
    groups = [
        {"params": [p for p in params if id(p) in decayed], "weight_decay": weight_decay},
        {"params": [p for p in params if id(p) not in decayed], "weight_decay": 0.0},
    ]
    fused = bool(params) and all(p.is_cuda for p in params)
    return torch.optim.AdamW(groups, lr=lr, fused=fused)


@contextmanager
def loaded(params, values):
    """Give ``params`` the ``values`` inside the ``with`` statement, then restore them."""
    saved = [param.detach().clone() for param in params]
    with torch.no_grad():
        for param, value in zip(params, values):
            param.copy_(value)
    try:
        yield
    finally:
        with torch.no_grad():
            for param, value in zip(params, saved):
                param.copy_(value)


def evaluate(forward, inputs, batch_size, device=None):
    """Apply ``forward`` to ``inputs`` in batches, without gradients (see :func:`map_batches`).

    With ``device``, each batch is computed there and its result stored where
    ``inputs`` are (rows kept on the host stream through the device).
    """
    if device is None:
        device = inputs.device

    def forward_batch(s):
        return forward(fetch(inputs[s], device)).to(inputs.device)

    with torch.no_grad():
        return torch.cat(map_batches(forward_batch, len(inputs), batch_size))


class RoundTrainer:
    """Train the modules of one boosting round on cached inputs.

    Parameters
    ----------
    loss : BaseLoss
        The loss whose ``objective`` is minimised.
    epochs : int
        Upper bound on the number of passes over the round's rows.
    batch_size : int
        Rows per optimiser step.
    lr : float
        AdamW step size.
    weight_decay : float
        AdamW weight decay of the block's weight matrices.
    eval_batch_size : int
        Rows per forward pass when evaluating.
    device : torch.device
        Device of the trained modules; rows stored elsewhere (on the host)
        are copied there batch by batch.
    mixed_precision : bool
        Run the forward passes of training steps under bfloat16 autocast on
        CUDA; the objective and the optimiser stay in float32.
    log : callable or None
        Called after every epoch, when given, with ``(epoch,
        batch_objective, monitored_objective, improved)``: the mean of the
        epoch's minibatch objectives, the objective of the averaged
        parameters on the monitored rows (the validation rows, else the
        training rows) and whether it is the best so far.
    """

    def __init__(
        self,
        loss,
        *,
        epochs,
        batch_size,
        lr,
        weight_decay,
        eval_batch_size,
        device,
        mixed_precision=False,
        log=None,
    ):
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.eval_batch_size = eval_batch_size
        self.device = device
        self.mixed_precision = mixed_precision
        self.log = log

    def _optimizer(self, modules, decayed):
        params = [param for module in modules for param in module.parameters()]
        return adamw(
            params, weight_matrices(decayed), lr=self.lr, weight_decay=self.weight_decay
        )

    def fit(self, forward, modules, decayed, inputs, y, w, validation=None):
        """Minimise the loss of ``forward(inputs)`` over the parameters of ``modules``.

        Parameters
        ----------
        forward : callable
            Maps a batch of ``inputs`` to head scores.
        modules : list of torch.nn.Module
            The modules trained in this round (all others are frozen).
        decayed : list of torch.nn.Module
            The subset of ``modules`` whose weight matrices take weight decay.
        inputs, y, w : torch.Tensor
            Training inputs, encoded targets and sample weights, on the
            device or, pinned, on the host.
        validation : tuple of torch.Tensor or None
            ``(inputs, y, w)`` of the validation rows. The round's objective on
            them (on the training rows when None) is checked after every epoch:
            the round stops when it stops improving and keeps its best epoch,
            the state it started from included, so a round never ends worse
            than it began on the monitored rows. What is checked and kept is
            the moving average of the parameters (:data:`AVERAGE_SHARE`),
            not the last step's.

        Returns
        -------
        best_epoch : int
            The epoch whose parameters were kept; 0 when no epoch improved on
            the starting state, which is then kept unchanged.
        """
        optimizer = self._optimizer(modules, decayed)
        n = len(inputs)
        # Normalising by the mean weight of all rows (not of the batch) keeps
        # each batch an unbiased estimate of the weighted objective.
        scale = w.mean().to(self.device)
        monitored = validation if validation is not None else (inputs, y, w)

        def monitored_objective():
            for module in modules:
                module.eval()
            scores = evaluate(forward, monitored[0], self.eval_batch_size, self.device)
            return self.loss.objective(scores, *monitored[1:]).item()

        params = [param for module in modules for param in module.parameters()]
        average = [param.detach().clone() for param in params]
        horizon = AVERAGE_SHARE * self.epochs * -(-n // self.batch_size)
        update_average = get_ema_multi_avg_fn(max(0.0, 1 - 1 / horizon))
        best = monitored_objective()
        best_state = [copy.deepcopy(m.state_dict()) for m in modules]
        best_epoch = stale = 0
        for epoch in range(1, self.epochs + 1):
            for module in modules:
                module.train()
            order = torch.randperm(n, device=inputs.device)
            total = torch.zeros((), device=self.device)
            for s in batched(n, self.batch_size):
                idx = order[s]
                w_batch = fetch(w[idx], self.device)
                try:
                    with autocast(self.device, self.mixed_precision):
                        scores = forward(fetch(inputs[idx], self.device))
                    objective = self.loss.batch_objective(
                        scores.float(), fetch(y[idx], self.device), w_batch, scale
                    )
                    optimizer.zero_grad(set_to_none=True)
                    objective.backward()
                    optimizer.step()
                    update_average(average, params, None)
                except torch.OutOfMemoryError as exc:
                    raise training_out_of_memory(exc, "a training step", self.batch_size) from exc
                total += objective.detach() * (s.stop - s.start)
            with loaded(params, average):
                objective = monitored_objective()
                if objective < best:
                    best, best_epoch, stale = objective, epoch, 0
                    best_state = [copy.deepcopy(m.state_dict()) for m in modules]
                else:
                    stale += 1
            if self.log is not None:
                self.log(epoch, (total / n).item(), objective, best_epoch == epoch)
            if stale >= ROUND_PATIENCE:
                break
        for module, state in zip(modules, best_state):
            module.load_state_dict(state)
        for module in modules:
            module.eval()
        return best_epoch
