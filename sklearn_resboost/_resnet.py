"""End-to-end baselines: the boosted estimators' network, trained by backpropagation."""

from abc import abstractmethod
from numbers import Integral, Real

import torch
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
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
from ._device import resolve_device, seeded
from ._losses import CLASSIFICATION_LOSSES, REGRESSION_LOSSES
from ._modules import check_network_size
from ._persistence import register_estimator
from ._skorch import train_network
from ._targets import ClassifierTargets, RegressorTargets
from ._threads import limited_threads
from ._validation import validation_split


class BaseResNet(BaseResNetEstimator):
    """End-to-end training shared by the classifier and the regressor."""

    _parameter_constraints = {
        **BaseResNetEstimator._parameter_constraints,
        "n_blocks": [Interval(Integral, 1, None, closed="left")],
        "skip": ["boolean"],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "callbacks": [list, None],
    }

    _fitted_schema = {**BaseResNetEstimator._fitted_schema, "history_": "records"}
    _block_count = "n_blocks"

    @abstractmethod
    def __init__(self, *, n_blocks, skip, max_epochs, batch_size, callbacks, **shared):
        super().__init__(**shared)
        self.n_blocks = n_blocks
        self.skip = skip
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.callbacks = callbacks

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the residual network end to end.

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

        Returns
        -------
        self : object
            The fitted estimator.
        """
        with limited_threads(self.n_threads):
            return self._fit(X, y, sample_weight)

    def _fit(self, X, y, sample_weight):
        X, y, sample_weight, loss = self._fit_data(X, y, sample_weight)
        device = resolve_device(self.device)
        rng = check_random_state(self.random_state)
        split_seed, init_seed, train_seed = (int(s) for s in rng.randint(MAX_SEED, size=3))
        train_idx, val_idx = validation_split(
            self, len(X), self._auto_early_stopping_samples, self._stratify(y), split_seed
        )

        n_outputs = loss.n_outputs
        # Refused before the network is built: one larger than the memory
        # would grow until the process is killed.
        check_network_size(
            X.shape[1],
            self.width,
            self.hidden_size if self.block in ("mlp", "conv") else None,
            self.n_blocks,
            n_outputs,
            min(self.batch_size, len(train_idx)),
            device,
            image_shape=self._image_shape(),
            strides=self._strides(),
        )
        offset, scale = self._output_transform(y[train_idx], sample_weight[train_idx], n_outputs)
        prior = loss.prior(
            self._head_targets(y[train_idx], offset, scale), sample_weight[train_idx]
        )
        # Every head starts at the prior; only the final one is trained, so the
        # earlier stages' scores stay the prior.
        network = self._new_network(
            X[train_idx],
            sample_weight[train_idx],
            n_outputs,
            prior,
            offset,
            scale,
            init_seed,
            self.n_blocks,
            self.skip,
        )
        network.to(device)

        def tensors(idx):
            if idx is None:
                return None
            X_t = torch.tensor(X[idx], dtype=torch.float32, device=device)
            w = torch.tensor(sample_weight[idx], dtype=torch.float32, device=device)
            return X_t, self._target_tensor(y[idx], device, offset, scale), w

        with seeded(train_seed, device):
            history = train_network(
                network,
                loss,
                tensors(train_idx),
                tensors(val_idx),
                all_stages=False,
                epochs=self.max_epochs,
                batch_size=self.batch_size,
                lr=self.lr,
                weight_decay=self.weight_decay,
                n_iter_no_change=self.n_iter_no_change,
                tol=self.tol,
                callbacks=self.callbacks,
                mixed_precision=self.mixed_precision,
                device=device,
                verbose=self.verbose,
            )
        self.module_ = network
        self.device_ = device
        self._loss = loss
        self.history_ = history
        return self


_SHARED_PARAMETERS = """\
    n_blocks : int, default=20
        Number of residual blocks, in [1, inf); the boosted estimators'
        default depth.
    learning_rate : float, default=1.0
        Scaling ``nu`` of every residual branch, in (0, 3.4e38]:
        ``g_{t+1} = g_t + nu f_t(g_t)``. Ignored when ``skip=False``.
    width : int, default=128
        Width of the residual stream (its channels for ``block="conv"``), in
        [1, inf).
    hidden_size : int, default=256
        Hidden width of the MLP block (hidden channels of the conv block), in
        [1, inf).
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
        ``torch.nn.Module`` mapping ``(n, width)`` to ``(n, width)``. With skip
        connections its last parametrised layer is zero-initialised, so that
        the network starts as its stem and head. A callable cannot be written
        by :meth:`save`; use pickle or joblib for such models.
<image parameters>
    skip : bool, default=True
        Whether the blocks have skip connections. ``False`` trains the same
        stack of blocks as a plain network, ``g_{t+1} = f_t(g_t)``, the
        contrast of Veit et al. (2016) for lesion studies.
    max_epochs : int, default=100
        Passes over the training rows, in [1, inf).
    batch_size : int, default=128
        Rows per optimiser step, in [1, inf).
    lr : float, default=1e-3
        AdamW step size, in (0, 1e18]: beyond, AdamW's float32
        scalars overflow.
    weight_decay : float, default=1e-4
        AdamW weight decay of the blocks' weight matrices, in [0, 1e18].
    dropout : float, default=0.0
        Dropout probability inside the MLP block, in [0, 1).
    input_noise : float, default=0.0
        Standard deviation of the Gaussian noise added to the standardised
        features in training, in units of each feature's spread, in
        [0, 3.4e38]. Training with input noise is a smoothness penalty (Bishop,
        1995). Off by default: here it acts in every epoch, not only in a
        first round as in the boosted estimators, and 0.3 cost 6 points of
        accuracy on hastie while adding 0.7 on digits.
<table parameters>
    early_stopping : "auto" or bool, default="auto"
        Stop when the validation loss has not improved for
        ``n_iter_no_change`` epochs and keep the best epoch's weights
        (skorch's ``EarlyStopping`` with ``load_best=True``); ``"auto"``
        enables it above 10,000 training samples.
    validation_fraction : float, default=0.1
        Fraction of the training data set aside for early stopping, in (0, 1).
    n_iter_no_change : int, default=10
        Epochs without an improvement larger than ``tol`` before stopping, in
        [1, inf).
    tol : float, default=1e-7
        Minimum decrease of the validation loss counted as an improvement, in
        [0, inf).
    callbacks : list of skorch callbacks or None, default=None
        Further skorch callbacks (instances or ``(name, callback)`` pairs) for
        the training loop, e.g. ``skorch.callbacks.LRScheduler``. They are
        copied at every ``fit``; the parameter itself is never modified.
    mixed_precision : bool, default=False
        Run the forward passes of training under bfloat16 autocast on CUDA;
        the parameters, the loss and the optimiser stay in float32, and
        prediction runs in float32. It has no effect on the CPU, where
        bfloat16 is not faster. See the GPU page of the user guide for what
        it gains.
    device : str, default="auto"
        Torch device; ``"auto"`` uses CUDA when available, else the CPU.
    n_threads : int or None, default=None
        Number of torch CPU threads used during ``fit`` and prediction, in
        [1, inf); the caller's count is restored afterwards. ``None`` uses
        one thread: the networks' matrix products are too small to gain from
        more threads on idle cores, and on busy cores 2 threads made fits 3
        to 13 times slower (``benchmarks/threads.py``). Float results depend
        on the thread count.""".replace(
    "<table parameters>",
    TABLE_PARAMETERS_DOC
    + "\n"
    + NUMERIC_BINS_DOC.format(
        default=None,
        measured="""Off by default here: the encoding was measured for the
        boosted estimators, whose default is 16.""",
    ),
).replace("<image parameters>", IMAGE_PARAMETERS_DOC)

_SHARED_ATTRIBUTES = """\
    module_ : ResNet
        The trained network, with ``stem``, ``blocks`` and ``n_blocks + 1``
        ``heads`` like the boosted estimators' network. Only the last head is
        trained; the others keep the prior.
    history_ : list of dict
        skorch's record of every epoch: ``epoch``, ``train_loss``,
        ``valid_loss`` (with early stopping), ``dur`` and the values logged by
        callbacks.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when ``X`` has string column names.
<table attributes>
    device_ : torch.device
        Device the network lives on.""".replace("<table attributes>", TABLE_ATTRIBUTES_DOC)


@register_estimator
class ResNetClassifier(ClassifierMixin, ClassifierTargets, BaseResNet):
    __doc__ = f"""Residual network classifier trained end to end (the BoostResNet baseline).

    The network of :class:`BoostResNetClassifier` (same stem, blocks and
    heads), with every block trained at once by backpropagation through
    skorch, as in the "e2eBP" baseline of Huang et al. (ICML 2018).

    Parameters
    ----------
    loss : {{"log_loss", "exponential"}}, default="log_loss"
        Loss minimised. ``"log_loss"`` is the cross-entropy;
        ``"exponential"`` is BoostResNet's loss, with probabilities
        ``expit(2 z)`` / ``softmax(2 z)``.
{_SHARED_PARAMETERS}
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplied into ``sample_weight``.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, shuffling, dropout and the
        validation split. The caller's global torch random state is left
        untouched.
    verbose : int, default=0
        Positive values print skorch's table of epochs.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_classes_ : int
        Number of classes.
{_SHARED_ATTRIBUTES}

    See Also
    --------
    BoostResNetClassifier : The same network trained one block per round.
    ResNetRegressor : The regressor.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_resboost import ResNetClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = ResNetClassifier(n_blocks=2, width=16, hidden_size=16, max_epochs=30,
    ...                        lr=1e-2, device="cpu", random_state=0).fit(X, y)
    >>> clf.predict(X[:3])
    array([0, 0, 0])
    >>> len(clf.module_.heads)
    3
    """

    _parameter_constraints = {
        **BaseResNet._parameter_constraints,
        "loss": [StrOptions(set(CLASSIFICATION_LOSSES))],
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
        *,
        loss="log_loss",
        n_blocks=20,
        learning_rate=1.0,
        width=128,
        hidden_size=256,
        block="mlp",
        image_shape=None,
        head_pooling="flatten",
        strides=None,
        skip=True,
        max_epochs=100,
        batch_size=128,
        lr=1e-3,
        weight_decay=1e-4,
        dropout=0.0,
        input_noise=0.0,
        categorical_features="from_dtype",
        min_frequency=5,
        numeric_bins=None,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-7,
        callbacks=None,
        mixed_precision=False,
        device="auto",
        n_threads=None,
        class_weight=None,
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            loss=loss,
            n_blocks=n_blocks,
            learning_rate=learning_rate,
            width=width,
            hidden_size=hidden_size,
            block=block,
            image_shape=image_shape,
            head_pooling=head_pooling,
            strides=strides,
            skip=skip,
            max_epochs=max_epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            dropout=dropout,
            input_noise=input_noise,
            categorical_features=categorical_features,
            min_frequency=min_frequency,
            numeric_bins=numeric_bins,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            callbacks=callbacks,
            mixed_precision=mixed_precision,
            device=device,
            n_threads=n_threads,
            random_state=random_state,
            verbose=verbose,
        )
        self.class_weight = class_weight

    _fitted_schema = {**BaseResNet._fitted_schema, "classes_": "labels", "n_classes_": "count"}

@register_estimator
class ResNetRegressor(RegressorMixin, RegressorTargets, BaseResNet):
    __doc__ = f"""Residual network regressor trained end to end (the BoostResNet baseline).

    The network of :class:`BoostResNetRegressor` (same stem, blocks and
    heads), with every block trained at once by backpropagation through
    skorch. Targets are standardised per output as in the boosted regressor,
    so the losses in ``history_`` are in standardised units.

    Parameters
    ----------
    loss : {{"squared_error", "absolute_error", "huber"}}, default="squared_error"
        Loss minimised.
{_SHARED_PARAMETERS}
    alpha : float, default=0.9
        Quantile of the absolute residuals of the prior that sets the Huber
        loss's ``delta``, in (0, 1). Only used with ``loss="huber"``.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, shuffling, dropout and the
        validation split. The caller's global torch random state is left
        untouched.
    verbose : int, default=0
        Positive values print skorch's table of epochs.

    Attributes
    ----------
    n_outputs_ : int
        Number of targets.
{_SHARED_ATTRIBUTES}

    See Also
    --------
    BoostResNetRegressor : The same network trained one block per round.
    ResNetClassifier : The classifier.

    Examples
    --------
    >>> from sklearn.datasets import make_friedman1
    >>> from sklearn_resboost import ResNetRegressor
    >>> X, y = make_friedman1(n_samples=300, random_state=0)
    >>> reg = ResNetRegressor(n_blocks=2, width=16, hidden_size=16, max_epochs=30,
    ...                       lr=1e-2, device="cpu", random_state=0).fit(X, y)
    >>> reg.predict(X[:2]).shape
    (2,)
    >>> bool(reg.score(X, y) > 0.8)
    True
    """

    _parameter_constraints = {
        **BaseResNet._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES))],
        "alpha": [Interval(Real, 0, 1, closed="neither")],
    }

    def __init__(
        self,
        *,
        loss="squared_error",
        n_blocks=20,
        learning_rate=1.0,
        width=128,
        hidden_size=256,
        block="mlp",
        image_shape=None,
        head_pooling="flatten",
        strides=None,
        skip=True,
        max_epochs=100,
        batch_size=128,
        lr=1e-3,
        weight_decay=1e-4,
        dropout=0.0,
        input_noise=0.0,
        categorical_features="from_dtype",
        min_frequency=5,
        numeric_bins=None,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-7,
        callbacks=None,
        mixed_precision=False,
        device="auto",
        n_threads=None,
        alpha=0.9,
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            loss=loss,
            n_blocks=n_blocks,
            learning_rate=learning_rate,
            width=width,
            hidden_size=hidden_size,
            block=block,
            image_shape=image_shape,
            head_pooling=head_pooling,
            strides=strides,
            skip=skip,
            max_epochs=max_epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            dropout=dropout,
            input_noise=input_noise,
            categorical_features=categorical_features,
            min_frequency=min_frequency,
            numeric_bins=numeric_bins,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            callbacks=callbacks,
            mixed_precision=mixed_precision,
            device=device,
            n_threads=n_threads,
            random_state=random_state,
            verbose=verbose,
        )
        self.alpha = alpha

    _fitted_schema = {**BaseResNet._fitted_schema, "n_outputs_": "positive", "_y_ndim": "ndim"}
