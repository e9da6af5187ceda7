"""End-to-end fine-tuning of a boosted network ("BoostResNet + e2eBP", Huang et al. 2018)."""

import numpy as np

from ._device import seeded
from ._skorch import train_network


def fine_tune(estimator, train, validation, device):
    """Train the whole boosted network of ``estimator`` end to end, in place.

    The stem, every block and the heads of stages ``1, ..., T`` are trained
    together on the mean of the stages' losses, so that the staged
    predictions stay meaningful; the prior's head (stage 0) is left as it is.
    Only weights change, so the hypothesis and feature ensembles still sum to
    the decision function.

    Parameters
    ----------
    estimator : BaseBoostResNet
        The boosted estimator, after boosting; ``fine_tune_epochs`` and the
        training settings are read from it, the seed from its generator.
    train, validation : tuple of torch.Tensor or None
        ``(X, y, sample_weight)`` rows of ``fit``, on ``device``. With
        validation rows, fine-tuning stops once their loss stops improving
        and keeps its best epoch.
    device : torch.device
        Device of the network and the data.

    Returns
    -------
    history : list of dict
        One record per epoch (``epoch``, ``train_loss``, ``valid_loss``,
        ``dur``); empty when nothing was fine-tuned.
    """
    module = estimator.module_
    if estimator.fine_tune_epochs == 0 or module.n_blocks == 0:
        return []
    seed = int(estimator._rng.randint(np.iinfo(np.int32).max))
    with seeded(seed, device):
        return train_network(
            module,
            estimator._loss,
            train,
            validation,
            all_stages=True,
            epochs=estimator.fine_tune_epochs,
            batch_size=estimator._training_batch_size(),
            lr=estimator.lr,
            weight_decay=estimator.weight_decay,
            n_iter_no_change=estimator.n_iter_no_change,
            tol=estimator.tol,
            callbacks=None,
            mixed_precision=estimator.mixed_precision,
            device=device,
            verbose=estimator.verbose,
            what="fine-tuning",
        )
