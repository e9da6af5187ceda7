"""BoostResNet estimators: one residual block per boosting round."""

import copy
import math
import re
import sys
import time
import warnings
from abc import abstractmethod
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
import torch
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import (
    IMAGE_PARAMETERS_DOC,
    MAX_SEED,
    NUMERIC_BINS_DOC,
    TABLE_ATTRIBUTES_DOC,
    TABLE_PARAMETERS_DOC,
    BaseResNetEstimator,
)
from ._device import EVAL_BATCH_SIZE, fetch, resolve_device, seeded, storage_device, to_storage
from ._edges import alpha, block_edge, hypothesis_edge, is_perfect
from ._losses import CLASSIFICATION_LOSSES, REGRESSION_LOSSES
from ._modules import (
    ConvBlock,
    FlattenHead,
    MLPBlock,
    block_strides,
    carried_head,
    check_network_size,
    state_shapes,
)
from ._persistence import register_estimator
from ._skorch import train_network
from ._targets import ClassifierTargets, RegressorTargets
from ._threads import limited_threads
from ._trainer import RoundTrainer, evaluate, map_batches
from ._validation import validation_split

# Bounds of batch_size="auto" on the CPU and on CUDA, where small batches
# leave the GPU idle (at 1,000,000 rows, batch 1024 trains a round 3 times
# faster than batch 256).
AUTO_BATCH_RANGE = (32, 256)
AUTO_BATCH_RANGE_CUDA = (32, 1024)


# On a terminal, verbose fits show the epochs of a round on one updating line
# once the round has run this many seconds.
PROGRESS_AFTER_SECONDS = 2.0


# The values of stop_reason_.
STOP_REASONS = (
    "n_estimators", "perfect_fit", "gamma", "early_stopping", "no_improvement", "monitor",
    "interrupted", "non_finite", "out_of_memory",
)  # fmt: skip


class _Stop(NamedTuple):
    """Why boosting stopped: ``stop_reason_``, a sentence, and whether a warning said so."""

    reason: str
    message: str
    warned: bool = False


class _VerboseReporter:
    """GradientBoosting's progress table: rows 1-10, then every 10th, 100th, ...

    It also prints why boosting stopped, and, when the output is a terminal,
    the epochs of a round that runs longer than
    :data:`PROGRESS_AFTER_SECONDS` on one line that updates in place (never
    into logs or files, which would fill with it).
    """

    def __init__(self, verbose, columns):
        self.verbose = verbose
        self.columns = columns
        self.interactive = sys.stdout.isatty()
        self.progress_width = 0

    def start(self, n_rounds, begin_at):
        # Boosting may stop before n_estimators, so the time left is a bound.
        header = ["Iter", "Train Loss", *self.columns, "Time", "Max Remaining"]
        print(("%10s " + "%16s " * (len(header) - 1)) % tuple(header))
        self.n_rounds = n_rounds
        self.begin_at = begin_at
        self.start_time = time.time()
        self.verbose_mod = 1

    @staticmethod
    def _format_time(seconds):
        return f"{seconds / 60:.2f}m" if seconds > 60 else f"{seconds:.2f}s"

    def update(self, iteration, train_loss, values):
        done = iteration + 1 - self.begin_at
        if self.verbose == 1 and done % self.verbose_mod != 0:
            return
        elapsed = time.time() - self.start_time
        remaining = (self.n_rounds - iteration - 1) * elapsed / done
        cells = [f"{iteration + 1:>10d}", f"{train_loss:>16.4f}"]
        cells += ["{:>16s}".format("-" if v is None else f"{v:.4f}") for v in values]
        cells += [f"{self._format_time(elapsed):>16s}", f"{self._format_time(remaining):>16s}"]
        print(" ".join(cells))
        if self.verbose == 1 and done // (self.verbose_mod * 10) > 0:
            self.verbose_mod *= 10

    def begin_round(self, iteration):
        self.round = iteration
        self.round_start = time.time()

    def end_round(self):
        if self.progress_width:
            print("\r" + " " * self.progress_width + "\r", end="", flush=True)
            self.progress_width = 0

    def epoch_logger(self, loss, monitored_validation):
        """The round trainer's ``log``: an epoch line (verbose > 1) or the progress line."""
        rows = "validation" if monitored_validation else "training"
        name = type(loss).__name__

        def log(epoch, batch_objective, monitored, improved):
            value = math.exp(monitored) if loss.log_space else monitored
            best = " (best so far)" if improved else ""
            if self.verbose > 1:
                # The minibatch mean of a log-space objective is a mean of
                # logs, far below the log of the mean: name it for what it is.
                batch = "log of the loss" if loss.log_space else "loss"
                print(
                    f"    epoch {epoch}: {name} {value:.5f} on the {rows} rows{best}; "
                    f"mean minibatch {batch} {batch_objective:.5f}"
                )
            elif self.interactive and time.time() - self.round_start > PROGRESS_AFTER_SECONDS:
                line = (
                    f"  round {self.round}: epoch {epoch}, {name} {value:.5f} on the "
                    f"{rows} rows"
                )
                print("\r" + line.ljust(self.progress_width), end="", flush=True)
                self.progress_width = max(self.progress_width, len(line))

        return log

    def discarded(self, iteration, train_loss, changed):
        if not changed:
            print(
                f"Round {iteration} changed nothing: no epoch improved on the block it "
                "started from; discarded."
            )
        else:
            print(
                f"Round {iteration} did not decrease the training loss ({train_loss:.4g}); "
                "discarded."
            )

    def stopped(self, message, n_rounds, n_blocks):
        print(f"Boosting stopped after {n_rounds} round(s): {message}. The model keeps "
              f"{n_blocks} block(s).")


class _BoostingState:
    """The rows of a fit and the cached stage of the ensemble on them.

    Boosting round ``t`` trains on ``g_t`` and the scores ``z_t`` of the
    current depth, so each round's inputs are computed once from the last
    round's: the training rows ``(X, y, w)``, the validation rows (or None),
    and their representations and head scores at the current depth.
    """

    def __init__(self, estimator, train, validation):
        self.estimator = estimator
        self.train = train
        self.validation = validation
        depth = estimator.module_.n_blocks
        self.G, self.Z = estimator._head_scores(train[0], depth)
        self.G_val = self.Z_val = None
        if validation is not None:
            self.G_val, self.Z_val = estimator._head_scores(validation[0], depth)

    def round_inputs(self, t):
        """What round ``t`` trains on: raw inputs in round 0 (the stem trains), else ``g_t``."""
        return self.train[0] if t == 0 else self.G

    def round_validation(self, t):
        if self.validation is None:
            return None
        return (self.validation[0] if t == 0 else self.G_val, *self.validation[1:])

    def advance(self, t, G, Z):
        """Move the cached stage past block ``t``, kept with training state ``(G, Z)``."""
        self.G, self.Z = G, Z
        if self.validation is not None:
            self.G_val, self.Z_val = self.estimator._advance(t, self.validation[0], self.G_val)


class BaseBoostResNet(BaseResNetEstimator):
    """The boosting machinery shared by the classifier and the regressor."""

    _parameter_constraints = {
        **BaseResNetEstimator._parameter_constraints,
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "epochs_per_block": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "subsample": [Interval(Real, 0, 1, closed="right")],
        "warm_start": ["boolean"],
        "fine_tune_epochs": [Interval(Integral, 0, None, closed="left")],
    }

    # Validation splits of at least 25 rows (10% of 250): a boosted network
    # overfits within a few rounds on any size of data, unlike the trees
    # HistGradientBoosting's 10,000 is made for.
    _auto_early_stopping_samples = 250

    @abstractmethod
    def __init__(
        self,
        *,
        n_estimators,
        epochs_per_block,
        batch_size,
        subsample,
        warm_start,
        fine_tune_epochs,
        **shared,
    ):
        super().__init__(**shared)
        self.n_estimators = n_estimators
        self.epochs_per_block = epochs_per_block
        self.batch_size = batch_size
        self.subsample = subsample
        self.warm_start = warm_start
        self.fine_tune_epochs = fine_tune_epochs

    # -- hooks supplied by the classifier and the regressor -------------------

    # Per-stage fitted attributes; the score histories also hold the prior's entry.
    _stage_attributes = ("train_score_", "validation_score_")

    def _round_diagnostics(self, z_prev, z_next, y, w):
        """Boosting diagnostics of a round: ``({attribute: value}, edge or None)``."""
        return {}, None

    def _edge_stop(self, i, edge):
        """A :class:`_Stop` when the round's edge ends boosting (the classifier's gamma)."""
        return None

    def _fit_is_perfect(self):
        """Whether the kept rounds leave nothing to boost on the training set."""
        return False

    # Diagnostics printed as columns of the verbose table.
    _reported = ()

    _stop_reasons = STOP_REASONS

    _fitted_schema = {
        **BaseResNetEstimator._fitted_schema,
        "n_estimators_": "count", "train_score_": "stage_losses",
        "validation_score_": "stage_losses", "fine_tune_history_": "records",
        "stop_reason_": "stop_reason", "_batch_size": "positive", "_n_rounds": "count",
        "_rng": "random_state", "_split_seed": "count",
    }  # fmt: skip
    _block_count = "n_estimators_"

    _skorch_epochs_parameter = "fine_tune_epochs"

    # -- fitting ---------------------------------------------------------------

    def _continues(self):
        return self.warm_start and self._is_fitted()

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, monitor=None):
        """Fit the boosted residual network, one block per round.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. Features need no scaling: the stem learns it.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values (class labels for the classifier).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; ``None`` weighs every sample equally. Samples
            of zero weight, or below 1e-38 times the largest weight (float32
            would train them with weight 0), are dropped.
        monitor : callable, default=None
            Called as ``monitor(i, self, locals())`` after every kept round
            ``i`` (discarded rounds are counted but not reported); training
            stops when it returns True, as in GradientBoosting.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        with limited_threads(self.n_threads):
            return self._fit(X, y, sample_weight, monitor)

    def _fit(self, X, y, sample_weight, monitor):
        continuing = self._continues()
        X, y, sample_weight, loss = self._fit_data(X, y, sample_weight)
        n_outputs = loss.n_outputs
        device = resolve_device(self.device)
        if continuing:
            if self.n_estimators < self._n_rounds:
                raise ValueError(
                    f"n_estimators={self.n_estimators} must be larger or equal to "
                    f"the {self._n_rounds} rounds already fitted when warm_start=True."
                )
            self._check_warm_start_structure()
            # A changed device moves the fitted network there.
            self.device_ = device
            loss = self._loss
        else:
            self._rng = check_random_state(self.random_state)
            self._split_seed = int(self._rng.randint(MAX_SEED))

        train_idx, val_idx = validation_split(
            self, len(X), self._auto_early_stopping_samples, self._stratify(y), self._split_seed
        )
        # Refused before any block is built: a network larger than the memory
        # would grow until the process is killed.
        n_rows = max(1, int(round(self.subsample * len(train_idx))))
        check_network_size(
            X.shape[1],
            self.width,
            self.hidden_size if self.block in ("mlp", "conv") else None,
            self.n_estimators,
            n_outputs,
            min(self._resolved_batch_size(n_rows, device), n_rows),
            device,
            n_trained_blocks=None if self.fine_tune_epochs else 1,
            n_blocks_name="n_estimators",
            image_shape=self._image_shape(),
            strides=self._strides(),
        )

        if continuing:
            # The network holds the output units it predicts in.
            offset, scale = (
                buffer.double().cpu().numpy()
                for buffer in (self.module_.output_offset, self.module_.output_scale)
            )
            for name in self._stage_attributes:
                setattr(self, name, list(getattr(self, name)))
        else:
            self._loss = loss
            offset, scale = self._output_transform(
                y[train_idx], sample_weight[train_idx], n_outputs
            )
            prior = loss.prior(
                self._head_targets(y[train_idx], offset, scale), sample_weight[train_idx]
            )
            seed = int(self._rng.randint(MAX_SEED))
            self.module_ = self._new_network(
                X[train_idx], sample_weight[train_idx], n_outputs, prior, offset, scale, seed
            )
            self.device_ = device
            for name in self._stage_attributes:
                setattr(self, name, [])
        self.module_.to(device)
        # Set on every fit: a warm start's fine-tuning uses the current value.
        self.module_.stem.noise = float(self.input_noise)

        # Inputs, targets, weights, two cached representations and their scores.
        row_bytes = 4 * (X.shape[1] + 2 * self._representation_size() + 3 * n_outputs + 2)
        storage = storage_device(device, row_bytes * len(X))

        def tensors(idx):
            if idx is None:
                return None
            w = to_storage(sample_weight[idx], torch.float32, device, storage)
            X_t = to_storage(X[idx], torch.float32, device, storage)
            y_t = self._target_tensor(y[idx], torch.device("cpu"), offset, scale)
            return X_t, to_storage(y_t, y_t.dtype, device, storage), w

        train = tensors(train_idx)
        validation = tensors(val_idx)
        try:
            self._boost(_BoostingState(self, train, validation), device, monitor)
            self.fine_tune_history_ = self._fine_tune(train, validation, device)
        finally:
            for name in self._stage_attributes:
                setattr(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        return self

    def _check_warm_start_structure(self):
        """Refuse a warm start whose structural parameters differ from the fitted network.

        The network is the one home of its structure; new blocks built from
        other parameters would not fit it, or would make a network that the
        safe format cannot describe.
        """
        module = self.module_
        fitted = {
            "learning_rate": module.learning_rate,
            "width": module.stem.width,
            "image_shape": getattr(module.stem, "image_shape", None),
            # The encoding's bins and vectors are sized and placed in round 0.
            "numeric_bins": getattr(module.stem, "numeric_bins", None),
        }
        if fitted["image_shape"] is not None:
            flatten = isinstance(module.heads[0], FlattenHead)
            fitted["head_pooling"] = "flatten" if flatten else "average"
        blocks = list(module.blocks)
        block_types = {"mlp": MLPBlock, "conv": ConvBlock}
        if blocks and self.block in block_types:
            if any(type(block) is not block_types[self.block] for block in blocks):
                fitted["block"] = f"blocks of another kind ({type(blocks[0]).__name__})"
            else:
                hidden = blocks[0].linear1 if self.block == "mlp" else blocks[0].conv1
                fitted["hidden_size"] = hidden.weight.shape[0]
                fitted["dropout"] = blocks[0].dropout.p
        elif blocks:
            # A callable is compared by what it builds: on the meta device,
            # which allocates nothing, with the caller's generators untouched.
            with seeded(0, torch.device("cpu")), torch.device("meta"):
                probe = self.block(self.width)
            fitted_block = blocks[0]
            if type(probe) is not type(fitted_block) or state_shapes(probe) != state_shapes(
                fitted_block
            ):
                fitted["block"] = f"blocks of another structure ({type(fitted_block).__name__})"
        current = {name: getattr(self, name) for name in fitted}
        current["image_shape"] = self._image_shape()
        current["numeric_bins"] = self._stem_bins()
        changed = [
            f"{name}={getattr(self, name)!r} (fitted with {value!r})"
            for name, value in fitted.items()
            if current[name] != value
        ]
        if fitted["image_shape"] is not None and self.block == "conv":
            kept = tuple(getattr(block, "stride", 1) for block in blocks)
            if kept != block_strides(self._strides(), len(blocks)):
                changed.append(f"strides={self.strides!r} (the fitted blocks have strides {kept})")
        if changed:
            raise ValueError(
                "warm_start=True adds blocks to the fitted network, whose structure "
                f"cannot change, but {', '.join(changed)}. Set the parameters back, or "
                "fit a new network with warm_start=False."
            )


    def _head_scores(self, inputs, stage):
        """Representations and head scores of ``stage`` for raw inputs, batched.

        They are stored where ``inputs`` are: on the device or on the host.
        """
        network = self.module_
        network.eval()

        def forward(s):
            g, z = network.stage(fetch(inputs[s], self.device_), stage)
            return g.to(inputs.device), z.to(inputs.device)

        with torch.no_grad():
            gs, zs = zip(*map_batches(forward, len(inputs), EVAL_BATCH_SIZE))
        return torch.cat(gs), torch.cat(zs)

    def _resolved_batch_size(self, n_samples, device):
        if self.batch_size != "auto":
            return self.batch_size
        # About 40 steps per epoch, within bounds: small data sets need many
        # noisy steps, larger ones fewer and larger batches.
        low, high = AUTO_BATCH_RANGE_CUDA if device.type == "cuda" else AUTO_BATCH_RANGE
        return min(high, max(low, n_samples // 40))

    def _training_batch_size(self):
        return self._batch_size

    def _advance(self, t, inputs, G):
        """Representation ``g_{t+1}`` and head-``t + 1`` scores after block ``t``."""
        network = self.module_
        if t == 0:
            return self._head_scores(inputs, 1)
        G = evaluate(lambda g: network.step(t, g), G, EVAL_BATCH_SIZE, self.device_)
        return G, evaluate(network.heads[t + 1], G, EVAL_BATCH_SIZE, self.device_)

    def _train_round(self, t, trainer, state, n_rows):
        """Add block ``t`` and head ``t + 1`` and train them.

        Returns the trainer's best epoch (0: the round changed nothing) and
        the new representation and head scores of the training rows.
        """
        network = self.module_
        X, y, w = state.train
        nu = self.learning_rate
        # The last layer of the branch is zero: the round starts at z_t.
        block = self._make_block(t).to(self.device_)
        shape = self._stage_shapes(t)[-1] if self.block == "conv" else None
        previous = carried_head(network.heads[t], block, shape)
        # The head's change is trained as nu * delta, so it is shrunk like the
        # block's branch while the round still minimises exactly what it keeps.
        delta = type(previous)(previous.in_features, previous.out_features).to(self.device_)
        with torch.no_grad():
            delta.weight.zero_()
            delta.bias.zero_()
        network.blocks.append(block)
        network.heads.append(previous)
        previous.requires_grad_(False)

        def head(g):
            return previous(g) + nu * delta(g)

        if t == 0:
            trained = [network.stem, block, delta]

            def forward(x):
                return head(network.step(0, network.stem(x)))

        else:
            trained = [block, delta]

            def forward(g):
                return head(network.step(t, g))

        inputs = state.round_inputs(t)
        rows = slice(None)
        if n_rows < len(X):
            rows = torch.randperm(len(X), device=X.device)[:n_rows]
        try:
            best_epoch = trainer.fit(
                forward,
                trained,
                [network.stem, block],
                inputs[rows],
                y[rows],
                w[rows],
                validation=state.round_validation(t),
            )
        finally:
            previous.requires_grad_(True)
        with torch.no_grad():
            previous.weight.add_(nu * delta.weight)
            previous.bias.add_(nu * delta.bias)
        return best_epoch, self._advance(t, X, state.G)

    def _boost(self, state, device, monitor):
        network = self.module_
        loss = self._loss
        _, y, w = state.train
        if not self.train_score_:
            self._n_rounds = 0
            self.train_score_.append(loss.value(state.Z, y, w))
            if state.validation is not None:
                self.validation_score_.append(loss.value(state.Z_val, *state.validation[1:]))

        reporter = None
        if self.verbose:
            columns = ["Val Loss"] if state.validation is not None else []
            columns += [name.rstrip("_").replace("_", " ").title() for name in self._reported]
            reporter = _VerboseReporter(self.verbose, columns)
            reporter.start(self.n_estimators, self._n_rounds)

        n_rows = max(1, int(round(self.subsample * len(y))))
        self._batch_size = self._resolved_batch_size(n_rows, device)
        trainer = RoundTrainer(
            loss,
            epochs=self.epochs_per_block,
            batch_size=self._batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            eval_batch_size=EVAL_BATCH_SIZE,
            device=device,
            mixed_precision=self.mixed_precision,
            log=None
            if reporter is None
            else reporter.epoch_logger(loss, state.validation is not None),
        )
        discarded = 0
        stop = None
        while stop is None:
            if self._n_rounds >= self.n_estimators:
                stop = _Stop("n_estimators", "n_estimators rounds were run")
                break
            # As AdaBoost stops at a perfect fit; a warm start adds no round to one.
            if self._fit_is_perfect():
                stop = _Stop("perfect_fit", "the last round fits the training rows perfectly")
                break
            i = self._n_rounds
            self._n_rounds += 1
            kept, stop = self._play_round(i, state, trainer, n_rows, reporter, discarded)
            discarded = 0 if kept else discarded + 1
            if kept and stop is None:
                stop = self._stop_after_round(i, monitor)

        if state.validation is not None and len(self.validation_score_) > 1:
            self._truncate(int(np.argmin(self.validation_score_)))
        self.n_estimators_ = network.n_blocks
        self.stop_reason_ = stop.reason
        if reporter is not None:
            reporter.stopped(stop.message, self._n_rounds, self.n_estimators_)
        if stop.reason == "out_of_memory":
            raise torch.OutOfMemoryError(stop.message)
        if self.n_estimators_ == 0 and not stop.warned:
            warnings.warn(
                f"{type(self).__name__} kept no block ({stop.message}), so it predicts "
                f"the prior: {self._no_block_hint(stop.reason)}",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _play_round(self, i, state, trainer, n_rows, reporter, discarded):
        """Train round ``i`` and keep it or roll it back; return ``(kept, stop or None)``.

        Every way a round can end that does not keep it (an interrupt, out of
        memory, a non-finite or no better loss, an edge below gamma) leads to
        the one rollback at the end.
        """
        network = self.module_
        _, y, w = state.train
        t = network.n_blocks
        seed = int(self._rng.randint(MAX_SEED))
        stem_state = copy.deepcopy(network.stem.state_dict()) if t == 0 else None
        kept, stop, trained = False, None, False
        if reporter is not None:
            reporter.begin_round(i)
        try:
            with seeded(seed, self.device_):
                best_epoch, (G, Z) = self._train_round(t, trainer, state, n_rows)
            train_loss = self._loss.value(Z, y, w)
            trained = True
        except KeyboardInterrupt:
            # The unfinished round is not counted, so that a warm start still
            # reaches n_estimators rounds.
            self._n_rounds -= 1
            warnings.warn(
                f"fit was interrupted during round {i}; the unfinished round was "
                f"rolled back and the model keeps its {t} block(s).",
                UserWarning,
                stacklevel=5,
            )
            stop = _Stop("interrupted", f"fit was interrupted during round {i}", warned=True)
        except torch.OutOfMemoryError as exc:
            # Keep the completed rounds usable (and warm-startable); only the
            # message is kept, so that the round's tensors are freed.
            self._n_rounds -= 1
            stop = _Stop(
                "out_of_memory",
                f"fit ran out of device memory in round {i}; the round was rolled "
                f"back and the model keeps its {t} block(s) (with warm_start=True, "
                f"a new fit continues from them). {exc}",
            )
        finally:
            if reporter is not None:
                reporter.end_round()
        if trained:
            kept, stop, diagnostics = self._judge_round(
                i, t, state, best_epoch, train_loss, Z, reporter, discarded
            )
            if kept:
                self._keep_round(i, t, state, G, Z, train_loss, diagnostics, reporter)
        if not kept:
            self._rollback(t, stem_state)
        return kept, stop

    def _judge_round(self, i, t, state, best_epoch, train_loss, Z, reporter, discarded):
        """Whether round ``i`` (block ``t``) is kept: ``(kept, stop or None, diagnostics)``."""
        if not np.isfinite(train_loss):
            warnings.warn(
                f"Round {i} produced a non-finite training loss and was rolled back; "
                f"boosting stopped with {t} block(s). Try a smaller lr.",
                ConvergenceWarning,
                stacklevel=6,
            )
            return False, _Stop(
                "non_finite", f"round {i} gave a non-finite training loss", warned=True
            ), None
        if best_epoch == 0 or train_loss >= self.train_score_[-1]:
            # Never keep a round that changed nothing or made the ensemble
            # worse on its own objective; a later round (other seed, other
            # subsample) may help.
            if reporter is not None:
                reporter.discarded(i, train_loss, changed=best_epoch > 0)
            if discarded + 1 >= self.n_iter_no_change:
                return False, _Stop(
                    "no_improvement",
                    f"the last {discarded + 1} rounds (n_iter_no_change) in a row did not "
                    "decrease the training loss",
                ), None
            return False, None, None
        _, y, w = state.train
        diagnostics, edge = self._round_diagnostics(state.Z, Z, y, w)
        stop = self._edge_stop(i, edge)
        return stop is None, stop, diagnostics

    def _keep_round(self, i, t, state, G, Z, train_loss, diagnostics, reporter):
        """Record kept round ``i`` (block ``t``) and move the cached stage past it."""
        state.advance(t, G, Z)
        self.train_score_.append(train_loss)
        for name, value in diagnostics.items():
            getattr(self, name).append(value)
        val_loss = None
        if state.validation is not None:
            val_loss = self._loss.value(state.Z_val, *state.validation[1:])
            self.validation_score_.append(val_loss)
        if reporter is not None:
            values = [val_loss] if state.validation is not None else []
            values += [diagnostics[name] for name in self._reported]
            reporter.update(i, train_loss, values)

    def _stop_after_round(self, i, monitor):
        """The monitor's and early stopping's verdict after kept round ``i``."""
        try:
            stopped_by_monitor = monitor is not None and monitor(i, self, locals())
        except KeyboardInterrupt:
            warnings.warn(
                f"fit was interrupted after round {i}; the model keeps its "
                f"{self.module_.n_blocks} block(s).",
                UserWarning,
                stacklevel=5,
            )
            return _Stop("interrupted", f"fit was interrupted after round {i}", warned=True)
        if stopped_by_monitor:
            return _Stop("monitor", f"the monitor returned True after round {i}")
        if self.validation_score_ and self._should_stop():
            return _Stop(
                "early_stopping",
                f"the validation loss did not improve by tol={self.tol} in the last "
                f"{self.n_iter_no_change} rounds (n_iter_no_change)",
            )
        return None

    @staticmethod
    def _no_block_hint(reason):
        """The likely cause of a fit that kept no block, and what to change."""
        if reason == "early_stopping":
            return (
                "no round lowered the validation loss below the prior's. Try more data, "
                "a smaller lr or early_stopping=False."
            )
        if reason == "gamma":
            return "the first round's edge was below gamma. Lower gamma or set it to None."
        return (
            "no round decreased the training loss, which usually means the steps are "
            "too large or too small for the data. Try another lr (the default is 1e-3) "
            "or more epochs_per_block."
        )

    def _rollback(self, t, stem_state):
        """Remove block ``t`` and its head; restore the stem a first round trained."""
        network = self.module_
        del network.blocks[t:]
        del network.heads[t + 1 :]
        if stem_state is not None:
            network.stem.load_state_dict(stem_state)

    def _truncate(self, n_blocks):
        del self.module_.blocks[n_blocks:]
        del self.module_.heads[n_blocks + 1 :]
        for name in self._stage_attributes:
            values = getattr(self, name)
            has_prior = name in ("train_score_", "validation_score_")
            del values[n_blocks + has_prior :]

    def _should_stop(self):
        """HistGradientBoosting's rule, on losses: no recent score beats the reference by tol."""
        scores = self.validation_score_
        if len(scores) <= self.n_iter_no_change:
            return False
        reference = scores[-self.n_iter_no_change - 1] - self.tol
        return not any(score < reference for score in scores[-self.n_iter_no_change :])

    def _fine_tune(self, train, validation, device, callbacks=None):
        """Train the whole boosted network end to end ("BoostResNet + e2eBP"), in place.

        The stem, every block and the heads of stages ``1, ..., T`` are
        trained together on the mean of the stages' losses, so that the staged
        predictions stay meaningful; the prior's head (stage 0) is left as it
        is. Only weights change, so the hypothesis and feature ensembles still
        sum to the decision function. With validation rows, fine-tuning stops
        once their loss stops improving and keeps its best epoch.

        Parameters
        ----------
        train, validation : tuple of torch.Tensor or None
            ``(X, y, sample_weight)`` rows of ``fit``, on ``device``.
        device : torch.device
            Device of the network and the data.
        callbacks : list of skorch callbacks or None, default=None
            Further callbacks of the skorch training loop.

        Returns
        -------
        history : list of dict
            One record per epoch (``epoch``, ``train_loss``, ``valid_loss``,
            ``dur``); empty when nothing was fine-tuned.
        """
        if self.fine_tune_epochs == 0 or self.module_.n_blocks == 0:
            return []
        seed = int(self._rng.randint(MAX_SEED))
        with seeded(seed, device):
            return train_network(
                self.module_,
                self._loss,
                train,
                validation,
                all_stages=True,
                epochs=self.fine_tune_epochs,
                batch_size=self._training_batch_size(),
                lr=self.lr,
                weight_decay=self.weight_decay,
                n_iter_no_change=self.n_iter_no_change,
                tol=self.tol,
                callbacks=callbacks,
                mixed_precision=self.mixed_precision,
                device=device,
                verbose=self.verbose,
                what="fine-tuning",
            )

    # -- inference -------------------------------------------------------------

    def _all_stage_scores(self, X):
        """Scores ``z_0, ..., z_T`` of every stage in one pass, shape (T + 1, n, K)."""
        with self._inference(X) as (network, X, batch):
            chunks = map_batches(
                lambda s: torch.stack(list(network.staged_scores(batch(s)))).double().cpu(),
                len(X),
                EVAL_BATCH_SIZE,
            )
        return torch.cat(chunks, dim=1).numpy()

    def _staged_raw_scores(self, X):
        """Yield the scores of stages 1, ..., T; the network runs once."""
        yield from self._all_stage_scores(X)[1:]

    def _contributions(self, X, kind):
        """The network's per-stage contributions of ``kind`` for ``X``, in the output's shape."""
        with self._inference(X) as (network, X, batch):
            chunks = map_batches(
                lambda s: network.contributions(batch(s), kind), len(X), EVAL_BATCH_SIZE
            )
        return self._format(np.concatenate(chunks, axis=1))

    def staged_score(self, X, y, sample_weight=None):
        """Yield the score of :meth:`score` after each round; the network runs once.

        Scoring every number of blocks from one fit replaces refitting at each
        depth when choosing ``n_estimators``, as with GradientBoosting's staged
        methods.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test samples.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            True labels (classifier) or values (regressor) for ``X``.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights; ``None`` weighs every sample equally.

        Yields
        ------
        score : float
            Score of stages 1, ..., ``n_estimators_``: the accuracy for the
            classifier, the coefficient of determination R^2 (averaged
            uniformly over outputs) for the regressor.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_resboost import BoostResNetClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = BoostResNetClassifier(n_estimators=4, random_state=0).fit(X, y)
        >>> scores = list(clf.staged_score(X, y))
        >>> len(scores) == clf.n_estimators_
        True
        >>> bool(scores[-1] == clf.score(X, y))
        True
        """
        metric = accuracy_score if isinstance(self, ClassifierMixin) else r2_score
        for y_pred in self.staged_predict(X):
            yield float(metric(y, y_pred, sample_weight=sample_weight))

    def hypothesis_ensemble(self, X):
        """Decompose the scores into the prior and the weak hypotheses (boosting view).

        Stage 0 is the prior ``z_0``; stage ``t + 1`` is the weak hypothesis
        ``h_t = z_{t+1} - z_t`` of round ``t``. The sum over stages is the output
        of :meth:`decision_function` (regressor: :meth:`predict`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        contributions : ndarray of shape (`n_estimators_` + 1, n_samples) or \
                (`n_estimators_` + 1, n_samples, K)
            Per-stage contributions.
        """
        return self._contributions(X, "hypothesis")

    def feature_ensemble(self, X):
        """Decompose the scores into the stem's and each block's share (ResNet view).

        With the final head ``(W_T, b_T)``, stage 0 is ``b_T + W_T g_0(x)`` and
        stage ``t + 1`` is ``nu W_T f_t(g_t(x))``, all in output units. The sum
        over stages is the output of :meth:`decision_function` (regressor:
        :meth:`predict`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        contributions : ndarray of shape (`n_estimators_` + 1, n_samples) or \
                (`n_estimators_` + 1, n_samples, K)
            Per-stage contributions.
        """
        return self._contributions(X, "feature")


# The parameters the classifier and the regressor document alike; each class
# docstring names them as "<shared name>" lines.
_SHARED_PARAMETERS = {
    "learning_rate": """\
    learning_rate : float, default=1.0
        Shrinkage ``nu`` in (0, 3.4e38] (float32's range):
        ``g_{t+1} = g_t + nu f_t(g_t)``, and the head's change in a round is
        trained as ``nu * delta``, so that it is
        damped by the same factor. ``1.0`` (no shrinkage) scored best on the
        benchmark datasets; smaller values make more, weaker rounds.""",
    "width": """\
    width : int, default=128
        Width of the residual stream (its channels for ``block="conv"``), in
        [1, inf).""",
    "hidden_size": """\
    hidden_size : int, default=256
        Hidden width of the MLP block (hidden channels of the conv block), in
        [1, inf).""",
    "epochs_per_block": """\
    epochs_per_block : int, default=10
        Upper bound on the passes over the training rows in each round, in
        [1, inf). A round ends earlier once its objective on the monitored
        rows (the validation rows with early stopping, else its training rows)
        has not improved for 3 epochs, and keeps its best epoch.""",
    "batch_size": """\
    batch_size : int or "auto", default="auto"
        Rows per optimiser step, in [1, inf). ``"auto"`` uses
        ``min(256, max(32, n_samples // 40))`` for the ``n_samples`` rows a
        round trains on, about 40 steps per epoch; on CUDA the bound is 1024
        instead of 256, since small batches leave a GPU idle.""",
    "lr": """\
    lr : float, default=1e-3
        AdamW step size, in (0, 1e18]: beyond, AdamW's float32
        scalars overflow.""",
    "weight_decay": """\
    weight_decay : float, default=1e-4
        AdamW weight decay of the blocks' (and in round 0 the stem's) weight
        matrices, in [0, 1e18].""",
    "dropout": """\
    dropout : float, default=0.0
        Dropout probability inside the MLP block, in [0, 1).""",
    "input_noise": """\
    input_noise : float, default=0.3
        Standard deviation of the Gaussian noise added to the standardised
        features while the stem trains (round 0, and fine-tuning), in units of
        each feature's spread, in [0, 3.4e38]. Training with input noise is a
        smoothness penalty (Bishop, 1995); 0 turns it off.""",
    "categorical_features": TABLE_PARAMETERS_DOC,
    "numeric_bins": NUMERIC_BINS_DOC.format(
        default=16,
        measured="""It was chosen on seeds 0-2 of both benchmark suites and
        confirmed on seeds 3-8 (see :ref:`hyperparameters`): on seeds 3-8
        it raised the accuracy on ``hpc_data`` by 2.1 points and the ROC AUC
        on ``attrition`` by 1.6 and on ``mlc_churn`` by 1.1, on every seed,
        and lowered the accuracy on ``hastie`` by 0.9 points (1.0 on seeds
        0-2) and the noisy :math:`R^2` of ``diabetes``.""",
    ),
    "image_shape": IMAGE_PARAMETERS_DOC,
    "n_iter_no_change": """\
    n_iter_no_change : int, default=10
        Rounds without an improvement larger than ``tol`` before stopping, in
        [1, inf); also the number of discarded rounds in a row (rounds that
        did not decrease the training loss, or changed nothing) after which
        boosting stops.""",
    "tol": """\
    tol : float, default=1e-7
        Minimum decrease of the validation loss counted as an improvement, in
        [0, inf).""",
    "fine_tune_epochs": """\
    fine_tune_epochs : int, default=0
        Epochs of end-to-end training after boosting, in [0, inf)
        ("BoostResNet + e2eBP"): the stem, every block and the heads of
        stages ``1, ..., T`` are trained together through skorch, on the mean
        of the stages' losses, so that staged predictions stay meaningful.
        With early stopping it stops when the validation loss stops improving
        and keeps its best epoch. ``train_score_`` still records the boosting
        rounds only.""",
    "mixed_precision": """\
    mixed_precision : bool, default=False
        Run the forward passes of training under bfloat16 autocast on CUDA;
        the parameters, the loss and the optimiser stay in float32, and
        prediction runs in float32. It has no effect on the CPU, where
        bfloat16 is not faster. See the GPU page of the user guide for what
        it gains.""",
    "device": """\
    device : str, default="auto"
        Torch device; ``"auto"`` uses CUDA when available, else the CPU.""",
    "n_threads": """\
    n_threads : int or None, default=None
        Number of torch CPU threads used during ``fit`` and prediction, in
        [1, inf); the caller's count is restored afterwards. ``None`` uses
        one thread: the networks' matrix products are too small to gain from
        more threads on idle cores, and on busy cores 2 threads made fits 3
        to 13 times slower (``benchmarks/threads.py``). Float results depend
        on the thread count.""",
}


def _with_shared_parameters(doc):
    """``doc`` with its ``<shared name>`` lines replaced by the shared parameter docs."""
    doc = doc.replace("<table attributes>", TABLE_ATTRIBUTES_DOC)
    return re.sub(r"^    <shared (\w+)>$", lambda m: _SHARED_PARAMETERS[m.group(1)], doc, flags=re.M)


@register_estimator
class BoostResNetClassifier(ClassifierMixin, ClassifierTargets, BaseBoostResNet):
    __doc__ = _with_shared_parameters(
        """BoostResNet classifier: a residual network trained one block per boosting round.

    Each round adds a residual block and a linear head on top of the frozen
    earlier blocks (Huang et al., "Learning Deep ResNet Blocks Sequentially
    using Boosting Theory", ICML 2018). The head of stage ``t`` gives the
    boosting stage ``t``; the weak hypotheses telescope into the scores of the
    final network.

    Parameters
    ----------
    loss : {"log_loss", "exponential"}, default="log_loss"
        Loss minimised in each round. ``"log_loss"`` is the cross-entropy.
        ``"exponential"`` is the paper's loss (its multiclass form for more
        than two classes), computed in log space; probabilities are then
        ``expit(2 z)`` / ``softmax(2 z)``. The edges and ``gamma`` mean the
        same under both. The cross-entropy, with early stopping, scored
        better on noisy tables (ROC AUC 0.854 against 0.693 on
        ``credit_data``, seeds 3-8) and gave far better probabilities; see
        the user guide's hyperparameter page.
    n_estimators : int, default=20
        Number of boosting rounds, i.e. residual blocks, in [1, inf). Boosting
        stops earlier when a stage fits the training rows perfectly (its
        hypothesis edge is 1 to float precision), as AdaBoost does.
    <shared learning_rate>
    <shared width>
    <shared hidden_size>
    block : {"mlp", "conv"} or callable, default="mlp"
        Residual branch. ``"mlp"`` is ``LayerNorm -> Linear -> ReLU -> Dropout
        -> Linear``.
        ``"conv"`` is the pre-activation basic block of a convolutional
        network, ``(GroupNorm -> ReLU -> 3x3 Conv)`` twice (see
        :class:`~sklearn_resboost.ConvBlock`), for rows that are flattened
        images of shape ``image_shape``: the stem is a 3x3 convolution to
        ``width`` channels, ``hidden_size`` is the channels between the two
        convolutions, and each head averages the pixels before its linear
        map.
        A callable takes the width and returns a
        ``torch.nn.Module`` mapping ``(n, width)`` to ``(n, width)``. The last
        parametrised layer is zero-initialised.
    <shared image_shape>
    <shared epochs_per_block>
    <shared batch_size>
    <shared lr>
    <shared weight_decay>
    <shared dropout>
    <shared input_noise>
    <shared categorical_features>
    <shared numeric_bins>
    subsample : float, default=1.0
        Fraction of training rows drawn (without replacement) for each round, in
        (0, 1].
    gamma : float or None, default=None
        Edge threshold in [0, 1): boosting stops when a block's edge
        ``block_edges_[t]`` falls below it, and that round is discarded.
        ``None`` disables the rule.
    early_stopping : "auto" or bool, default="auto"
        Stop adding blocks when the validation loss stops improving, and keep
        the best stage; ``"auto"`` enables it above 250 training samples
        (fewer leave too small a validation split). Without it, later rounds
        fit the training rows ever more confidently: the held-out ROC AUC on
        ``credit_data`` fell from 0.85 after the first block to 0.69 after
        twenty.
    validation_fraction : float, default=0.1
        Fraction of the training data set aside (stratified) for early
        stopping, in (0, 1).
    <shared n_iter_no_change>
    <shared tol>
    warm_start : bool, default=False
        Keep the fitted blocks and train only new ones when ``fit`` is called
        again with a larger ``n_estimators``.
    <shared fine_tune_epochs>
    <shared mixed_precision>
    <shared device>
    <shared n_threads>
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplied into ``sample_weight``.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, shuffling, subsampling and the
        validation split. The caller's global torch random state is left
        untouched.
    verbose : int, default=0
        ``1`` prints a progress table (thinned as in GradientBoosting), ``2``
        every round and every epoch.

    Attributes
    ----------
    module_ : ResNet
        The trained network, with ``stem``, ``blocks`` and ``heads``.
    n_estimators_ : int
        Number of blocks kept: fewer than ``n_estimators`` after early
        stopping, discarded rounds or a perfect fit.
    stop_reason_ : str
        Why the last ``fit`` stopped boosting: ``"n_estimators"`` (every round
        was run), ``"perfect_fit"``, ``"gamma"`` (a block edge fell below
        ``gamma``), ``"early_stopping"`` (the validation
        loss stopped improving), ``"no_improvement"`` (``n_iter_no_change``
        rounds in a row were discarded because they did not decrease the
        training loss), ``"monitor"``, ``"interrupted"`` (Ctrl-C),
        ``"non_finite"`` (a round diverged) or ``"out_of_memory"``. With
        ``verbose`` it is printed as a sentence.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_classes_ : int
        Number of classes.
    train_score_ : ndarray of shape (`n_estimators_` + 1,)
        Training loss of the prior and after every round.
    validation_score_ : ndarray
        Validation loss of the prior and after every round (empty without early
        stopping).
    hypothesis_edges_ : ndarray of shape (`n_estimators_`,)
        Edges ``gamma~_{t+1}`` of the hypothesis modules.
    block_edges_ : ndarray of shape (`n_estimators_`,)
        Edges ``gamma_t`` of the weak module classifiers.
    alphas_ : ndarray of shape (`n_estimators_`,)
        ``0.5 log((1 + gamma~_{t+1}) / (1 - gamma~_{t+1}))``.
    fine_tune_history_ : list of dict
        One record per fine-tuning epoch (``epoch``, ``train_loss``,
        ``valid_loss`` with early stopping, ``dur``); empty when
        ``fine_tune_epochs=0``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when ``X`` has string column names.
<table attributes>
    device_ : torch.device
        Device the network lives on.

    See Also
    --------
    BoostResNetRegressor : The regressor.
    sklearn.ensemble.GradientBoostingClassifier : Boosting of trees.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_resboost import BoostResNetClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = BoostResNetClassifier(n_estimators=5, random_state=0).fit(X, y)
    >>> clf.predict(X[:3])
    array([0, 0, 0])
    >>> len(list(clf.staged_predict(X[:3]))) == clf.n_estimators_
    True
    """
    )

    _parameter_constraints = {
        **BaseBoostResNet._parameter_constraints,
        "loss": [StrOptions(set(CLASSIFICATION_LOSSES))],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "gamma": [Interval(Real, 0, 1, closed="left"), None],
    }

    def __init__(
        self,
        *,
        loss="log_loss",
        n_estimators=20,
        learning_rate=1.0,
        width=128,
        hidden_size=256,
        block="mlp",
        image_shape=None,
        head_pooling="flatten",
        strides=None,
        epochs_per_block=10,
        batch_size="auto",
        lr=1e-3,
        weight_decay=1e-4,
        dropout=0.0,
        input_noise=0.3,
        categorical_features="from_dtype",
        min_frequency=5,
        numeric_bins=16,
        subsample=1.0,
        gamma=None,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-7,
        warm_start=False,
        fine_tune_epochs=0,
        mixed_precision=False,
        device="auto",
        n_threads=None,
        class_weight=None,
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            loss=loss,
            n_estimators=n_estimators,
            learning_rate=learning_rate,
            width=width,
            hidden_size=hidden_size,
            block=block,
            image_shape=image_shape,
            head_pooling=head_pooling,
            strides=strides,
            epochs_per_block=epochs_per_block,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            dropout=dropout,
            input_noise=input_noise,
            categorical_features=categorical_features,
            min_frequency=min_frequency,
            numeric_bins=numeric_bins,
            subsample=subsample,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            warm_start=warm_start,
            fine_tune_epochs=fine_tune_epochs,
            mixed_precision=mixed_precision,
            device=device,
            n_threads=n_threads,
            random_state=random_state,
            verbose=verbose,
        )
        self.gamma = gamma
        self.class_weight = class_weight

    def _edge_stop(self, i, edge):
        if self.gamma is not None and edge < self.gamma:
            return _Stop("gamma", f"the block edge {edge:.4f} of round {i} is below gamma={self.gamma}")
        return None

    _stage_attributes = (
        *BaseBoostResNet._stage_attributes,
        "hypothesis_edges_",
        "block_edges_",
        "alphas_",
    )
    _reported = ("block_edges_",)
    _fitted_schema = {
        **BaseBoostResNet._fitted_schema,
        "classes_": "labels", "n_classes_": "count", "hypothesis_edges_": "round_values",
        "block_edges_": "round_values", "alphas_": "round_values",
    }  # fmt: skip

    def _fit_is_perfect(self):
        return len(self.hypothesis_edges_) > 0 and is_perfect(self.hypothesis_edges_[-1])

    def _round_diagnostics(self, z_prev, z_next, y, w):
        y = y.cpu().numpy()
        # Binary targets are {-1, +1} (exponential) or {0, 1} (log loss).
        labels = np.where(y > 0, 1, -1) if self.n_classes_ == 2 else y
        w = w.double().cpu().numpy()
        edge_next = hypothesis_edge(
            z_prev.double().cpu().numpy(), z_next.double().cpu().numpy(), labels, w
        )
        edge_prev = self.hypothesis_edges_[-1] if self.hypothesis_edges_ else 0.0
        edge = block_edge(edge_prev, edge_next)
        diagnostics = {
            "hypothesis_edges_": edge_next,
            "block_edges_": edge,
            "alphas_": alpha(edge_next),
        }
        return diagnostics, edge

    def staged_decision_function(self, X):
        """Yield the raw scores after each round; the network runs once.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Yields
        ------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Scores of stages 1, ..., ``n_estimators_``.
        """
        for scores in self._staged_raw_scores(X):
            yield self._format(scores)

    def staged_predict(self, X):
        """Yield the predicted labels after each round; the network runs once.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Yields
        ------
        y : ndarray of shape (n_samples,)
            Labels of stages 1, ..., ``n_estimators_``.
        """
        for scores in self._staged_raw_scores(X):
            yield self._labels(scores)

    def staged_predict_proba(self, X):
        """Yield the class probabilities after each round; the network runs once.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Yields
        ------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities of stages 1, ..., ``n_estimators_``.
        """
        for scores in self._staged_raw_scores(X):
            yield self._loss.proba(scores)


@register_estimator
class BoostResNetRegressor(RegressorMixin, RegressorTargets, BaseBoostResNet):
    __doc__ = _with_shared_parameters(
        """BoostResNet regressor: a residual network trained one block per boosting round.

    Each round adds a residual block and a linear head on top of the frozen
    earlier blocks (Huang et al., ICML 2018). With the squared error, fitting
    the new head to ``y`` is fitting the round's weak hypothesis to the
    residual of the ensemble: gradient boosting, done by a residual block.
    Targets are standardised internally per output; the losses in
    ``train_score_`` are in standardised units, so that outputs of different
    scales weigh equally.

    Parameters
    ----------
    loss : {"squared_error", "absolute_error", "huber"}, default="squared_error"
        Loss minimised in each round.
    n_estimators : int, default=20
        Number of boosting rounds, i.e. residual blocks, in [1, inf).
    <shared learning_rate>
    <shared width>
    <shared hidden_size>
    block : {"mlp", "conv"} or callable, default="mlp"
        Residual branch; see :class:`BoostResNetClassifier`.
    image_shape : tuple of int or None, default=None
        The shape of one row as an image for ``block="conv"``, ``(H, W)`` or
        ``(C, H, W)``; see :class:`BoostResNetClassifier`.
    head_pooling : {"flatten", "average"}, default="flatten"
        How the heads of a ``block="conv"`` network read the representation;
        see :class:`BoostResNetClassifier`.
    strides : sequence of {1, 2} or None, default=None
        The stride of each block of a ``block="conv"`` network, 2 for a
        downsampling one; see :class:`BoostResNetClassifier`.
    <shared epochs_per_block>
    <shared batch_size>
    <shared lr>
    <shared weight_decay>
    <shared dropout>
    <shared input_noise>
    <shared categorical_features>
    <shared numeric_bins>
    subsample : float, default=1.0
        Fraction of training rows drawn for each round, in (0, 1].
    early_stopping : "auto" or bool, default="auto"
        Stop adding blocks when the validation loss stops improving, and keep
        the best stage; ``"auto"`` enables it above 250 training samples
        (fewer leave too small a validation split). Unlike the classifier's,
        whose accuracy keeps improving while its loss does not, the
        regressor's held-out error follows its validation loss: without early
        stopping, small noisy data sets are overfitted (R^2 of 0.07 instead of
        0.36 on ``load_diabetes``).
    validation_fraction : float, default=0.1
        Fraction of the training data set aside for early stopping, in (0, 1).
    <shared n_iter_no_change>
    <shared tol>
    warm_start : bool, default=False
        Keep the fitted blocks and train only new ones on the next ``fit``.
    <shared fine_tune_epochs>
    <shared mixed_precision>
    <shared device>
    <shared n_threads>
    alpha : float, default=0.9
        Quantile of the absolute residuals of the prior that sets the Huber
        loss's ``delta``, in (0, 1). Only used with ``loss="huber"``.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, subsampling and the validation split.
    verbose : int, default=0
        ``1`` prints a progress table, ``2`` every round and epoch.

    Attributes
    ----------
    module_ : ResNet
        The trained network, with ``stem``, ``blocks`` and ``heads``.
    n_estimators_ : int
        Number of blocks kept.
    stop_reason_ : str
        Why the last ``fit`` stopped boosting: ``"n_estimators"`` (every round
        was run), ``"perfect_fit"``, ``"early_stopping"`` (the validation
        loss stopped improving), ``"no_improvement"`` (``n_iter_no_change``
        rounds in a row were discarded because they did not decrease the
        training loss), ``"monitor"``, ``"interrupted"`` (Ctrl-C),
        ``"non_finite"`` (a round diverged) or ``"out_of_memory"``. With
        ``verbose`` it is printed as a sentence.
    n_outputs_ : int
        Number of targets.
    train_score_ : ndarray of shape (`n_estimators_` + 1,)
        Training loss (standardised targets) of the prior and after each round.
    validation_score_ : ndarray
        Validation loss per stage (empty without early stopping).
    fine_tune_history_ : list of dict
        One record per fine-tuning epoch (``epoch``, ``train_loss``,
        ``valid_loss`` with early stopping, ``dur``); empty when
        ``fine_tune_epochs=0``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when ``X`` has string column names.
<table attributes>
    device_ : torch.device
        Device the network lives on.

    See Also
    --------
    BoostResNetClassifier : The classifier.
    sklearn.ensemble.GradientBoostingRegressor : Boosting of trees.

    Examples
    --------
    >>> from sklearn.datasets import make_friedman1
    >>> from sklearn_resboost import BoostResNetRegressor
    >>> X, y = make_friedman1(n_samples=500, random_state=0)
    >>> reg = BoostResNetRegressor(n_estimators=5, random_state=0).fit(X, y)
    >>> reg.predict(X[:2]).shape
    (2,)
    >>> bool(reg.score(X, y) > 0.8)
    True
    """
    )

    _parameter_constraints = {
        **BaseBoostResNet._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES))],
        "alpha": [Interval(Real, 0, 1, closed="neither")],
    }

    def __init__(
        self,
        *,
        loss="squared_error",
        n_estimators=20,
        learning_rate=1.0,
        width=128,
        hidden_size=256,
        block="mlp",
        image_shape=None,
        head_pooling="flatten",
        strides=None,
        epochs_per_block=10,
        batch_size="auto",
        lr=1e-3,
        weight_decay=1e-4,
        dropout=0.0,
        input_noise=0.3,
        categorical_features="from_dtype",
        min_frequency=5,
        numeric_bins=16,
        subsample=1.0,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-7,
        warm_start=False,
        fine_tune_epochs=0,
        mixed_precision=False,
        device="auto",
        n_threads=None,
        alpha=0.9,
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            loss=loss,
            n_estimators=n_estimators,
            learning_rate=learning_rate,
            width=width,
            hidden_size=hidden_size,
            block=block,
            image_shape=image_shape,
            head_pooling=head_pooling,
            strides=strides,
            epochs_per_block=epochs_per_block,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            dropout=dropout,
            input_noise=input_noise,
            categorical_features=categorical_features,
            min_frequency=min_frequency,
            numeric_bins=numeric_bins,
            subsample=subsample,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            warm_start=warm_start,
            fine_tune_epochs=fine_tune_epochs,
            mixed_precision=mixed_precision,
            device=device,
            n_threads=n_threads,
            random_state=random_state,
            verbose=verbose,
        )
        self.alpha = alpha

    _fitted_schema = {**BaseBoostResNet._fitted_schema, "n_outputs_": "positive", "_y_ndim": "ndim"}

    def staged_predict(self, X):
        """Yield the predictions after each round; the network runs once.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Yields
        ------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions of stages 1, ..., ``n_estimators_``.
        """
        for scores in self._staged_raw_scores(X):
            yield self._format(scores)
