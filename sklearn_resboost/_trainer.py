"""The per-round trainer: minibatch optimisation of one block and its head."""

import copy

import torch

# A round stops when its validation objective has not improved for this many
# epochs; the best epoch's parameters are kept.
ROUND_PATIENCE = 3


def batched(n, batch_size):
    """Yield slices covering ``range(n)`` in chunks of ``batch_size``."""
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def evaluate(forward, inputs, batch_size):
    """Apply ``forward`` to ``inputs`` in batches, without gradients."""
    with torch.no_grad():
        return torch.cat([forward(inputs[s]) for s in batched(len(inputs), batch_size)])


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
    log : callable or None
        Called with ``(epoch, train_objective, validation_objective)`` after
        every epoch when given.
    """

    def __init__(self, loss, *, epochs, batch_size, lr, weight_decay, eval_batch_size, log=None):
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.eval_batch_size = eval_batch_size
        self.log = log

    def _optimizer(self, modules, decayed):
        decay, no_decay = [], []
        for module in modules:
            for name, param in module.named_parameters():
                is_matrix = param.ndim > 1 and name.rsplit(".", 1)[-1] == "weight"
                (decay if module in decayed and is_matrix else no_decay).append(param)
        groups = [
            {"params": decay, "weight_decay": self.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=self.lr)

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
            Training inputs, encoded targets and sample weights, on the device.
        validation : tuple of torch.Tensor or None
            ``(inputs, y, w)`` of the validation rows: the round then stops when
            their objective stops improving and keeps its best epoch.

        Returns
        -------
        n_epochs : int
            Number of epochs run.
        """
        optimizer = self._optimizer(modules, decayed)
        n = len(inputs)
        # Normalising by the mean weight of all rows (not of the batch) keeps
        # each batch an unbiased estimate of the weighted objective.
        scale = w.mean()
        best, best_state, stale = float("inf"), None, 0
        epoch = 0
        for epoch in range(1, self.epochs + 1):
            for module in modules:
                module.train()
            order = torch.randperm(n, device=inputs.device)
            total = torch.zeros((), device=inputs.device)
            for s in batched(n, self.batch_size):
                idx = order[s]
                w_batch = w[idx]
                objective = self.loss.objective(forward(inputs[idx]), y[idx], w_batch)
                objective = objective * (w_batch.mean() / scale)
                optimizer.zero_grad(set_to_none=True)
                objective.backward()
                optimizer.step()
                total += objective.detach() * (s.stop - s.start)
            val_objective = None
            if validation is not None:
                for module in modules:
                    module.eval()
                val_inputs, val_y, val_w = validation
                scores = evaluate(forward, val_inputs, self.eval_batch_size)
                val_objective = self.loss.objective(scores, val_y, val_w).item()
                if val_objective < best:
                    best, stale = val_objective, 0
                    best_state = [copy.deepcopy(m.state_dict()) for m in modules]
                else:
                    stale += 1
            if self.log is not None:
                self.log(epoch, (total / n).item(), val_objective)
            if validation is not None and stale >= ROUND_PATIENCE:
                break
        if best_state is not None:
            for module, state in zip(modules, best_state):
                module.load_state_dict(state)
        for module in modules:
            module.eval()
        return epoch


def evaluate_rows(forward, inputs, chunk_size):
    """Apply ``forward`` to ``inputs`` in chunks of exactly ``chunk_size`` rows.

    The last chunk is padded with zeros. A float32 matrix product may pick a
    different kernel, and so round differently, for a different number of
    rows; with a fixed shape every row's output is the same whichever other
    rows are predicted with it (scikit-learn's subset and sample-order
    invariance checks).
    """
    outputs = []
    with torch.no_grad():
        for s in batched(len(inputs), chunk_size):
            chunk = inputs[s]
            n = len(chunk)
            if n < chunk_size:
                padding = chunk.new_zeros((chunk_size - n, *chunk.shape[1:]))
                chunk = torch.cat([chunk, padding])
            outputs.append(forward(chunk)[:n])
    return torch.cat(outputs)
