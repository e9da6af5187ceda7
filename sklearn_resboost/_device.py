"""Device resolution, seeding and pickling of torch state."""

import contextlib
import copy
import io
import threading
import warnings

import torch


class DeviceWarning(UserWarning):
    """A model saved on one device was loaded on another.

    Emitted when a model fitted on a CUDA device is unpickled, or loaded with
    :func:`~sklearn_resboost.load`, on a machine without CUDA or with fewer
    GPUs: the network is moved to the CPU and ``device_`` says so.

    Examples
    --------
    Silence the warning where the move is expected, or turn it into an error
    where it is not:

    >>> import pickle, warnings
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_resboost import BoostResNetClassifier, DeviceWarning
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = BoostResNetClassifier(n_estimators=1, width=16, hidden_size=16,
    ...                             device="cpu", random_state=0).fit(X, y)
    >>> data = pickle.dumps(clf)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", DeviceWarning)
    ...     restored = pickle.loads(data)
    >>> restored.device_
    device(type='cpu')
    """


def resolve_device(device):
    """Turn the ``device`` parameter into a ``torch.device``.

    ``"auto"`` picks CUDA when it is available. Asking for CUDA on a machine
    without it raises a ``ValueError`` instead of a torch error at the first
    tensor.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a valid torch device.") from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available on this "
                "machine; use device='cpu' or device='auto'."
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} was requested but only "
                f"{torch.cuda.device_count()} CUDA device(s) are available."
            )
    elif resolved.type != "cpu":
        raise ValueError(f"device={device!r} is not supported; use 'cpu' or 'cuda'.")
    return resolved


# torch's default generators are global to the process: fits running
# concurrently in threads (joblib's threading backend, Dask workers without
# processes) would draw from each other's seeds and restore each other's
# states. Seeded sections therefore run one at a time.
_SEEDED_LOCK = threading.RLock()


@contextlib.contextmanager
def seeded(seed, device):
    """Seed torch's generators for ``device`` and restore the caller's state on exit.

    Seeded sections of different threads exclude each other, so that a fit's
    random draws depend on its seed only.
    """
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with _SEEDED_LOCK, torch.random.fork_rng(devices=devices):
        torch.random.default_generator.manual_seed(seed)
        for index in devices:
            torch.cuda.default_generators[index].manual_seed(seed)
        yield


@contextlib.contextmanager
def inference_mode(module):
    """Yield ``module`` ready for inference: in evaluation mode and, on the CPU, in float64.

    float32 matrix products on the CPU depend on the batch's size; in float64
    a row's output does not depend, to 1e-7, on which other rows share its
    batch. On the CPU the yielded module is a float64 copy, so that ``module``
    itself never changes dtype and predictions running in several threads at
    once cannot see each other's. On CUDA inference stays in float32 for speed,
    on ``module`` itself, whose training mode is restored on exit.
    """
    parameter = next(module.parameters(), None)
    if parameter is None or parameter.device.type == "cpu":
        yield copy.deepcopy(module).double().eval()
        return
    training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(training)


def autocast(device, enabled):
    """bfloat16 autocast for a training step on CUDA when ``enabled``; a no-op otherwise.

    On the CPU, bfloat16 matrix products are slower than float32 ones on most
    processors, so mixed precision only ever applies on CUDA.
    """
    if not enabled or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16)


# Rows per forward pass at inference (predictions, the evaluations inside
# fit, skorch's validation rows), so that memory does not grow with the number
# of rows and a validation loss is the exact weighted loss for usual sizes.
EVAL_BATCH_SIZE = 8192

# Row data (inputs, cached representations, scores) stays on a CUDA device
# while it takes at most this fraction of the device's free memory; larger data
# stays on the host, in pinned memory, and streams through batch by batch.
DEVICE_DATA_FRACTION = 0.5


def storage_device(device, n_bytes):
    """Where ``n_bytes`` of row data computed on ``device`` is kept: ``device`` or the host."""
    if device.type != "cuda":
        return device
    index = device.index if device.index is not None else torch.cuda.current_device()
    free, _ = torch.cuda.mem_get_info(index)
    return device if n_bytes <= DEVICE_DATA_FRACTION * free else torch.device("cpu")


def to_storage(array, dtype, device, storage):
    """``array`` as a tensor on ``storage``; pinned when it is the host of a CUDA ``device``."""
    tensor = torch.as_tensor(array, dtype=dtype)
    if storage.type == "cpu" and device.type == "cuda":
        return tensor.pin_memory()
    return tensor.to(storage)


def fetch(tensor, device):
    """``tensor`` on ``device``, copied asynchronously through pinned memory from the host.

    A batch gathered from pinned rows is not pinned itself; pinning it again
    goes through torch's caching host allocator, which keeps the buffer until
    the copy has finished, so the copy can overlap the computation.
    """
    if tensor.device == device:
        return tensor
    if tensor.device.type == "cpu" and device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def module_to_bytes(module):
    """Serialise a module (structure and weights) with ``torch.save``."""
    buffer = io.BytesIO()
    torch.save(module, buffer)
    return buffer.getvalue()


def module_from_bytes(data, device):
    """Load a module saved by :func:`module_to_bytes` onto ``device``.

    ``device`` must exist on this machine (see :func:`available_device`).
    Returns the module and the device it is on.
    """
    device = torch.device(device)
    module = torch.load(io.BytesIO(data), map_location=device, weights_only=False)
    return module, device


def available_device(device):
    """``device`` if this machine has it, else the CPU with a :class:`DeviceWarning`."""
    try:
        return resolve_device(str(device))
    except ValueError as exc:
        warnings.warn(
            f"The model was fitted on {device}, which is not available here ({exc}); "
            "it has been moved to the CPU.",
            DeviceWarning,
            stacklevel=3,
        )
        return torch.device("cpu")
