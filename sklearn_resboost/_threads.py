"""The number of torch's CPU threads during a fit or a prediction."""

import contextlib
import numbers
import threading

import torch

# The default number of threads. The networks' matrix products are small (at
# the default sizes a training step multiplies at most 256 rows by 128 x 256
# weights on the CPU), so each parallel region of torch's OpenMP runtime (GNU
# libgomp in the CPU wheels) lasts microseconds, and after each region
# libgomp's workers spin for a while (OMP_WAIT_POLICY, GOMP_SPINCOUNT) before
# they sleep. On idle cores a second thread gained at most 10% and doubled the
# CPU time; on cores busy with other work the spinning workers take the time
# the work needs, and fits ran 3 to 60 times slower with 2 threads than with 1
# (benchmarks/threads.py). OMP_WAIT_POLICY=PASSIVE removed most of the loss,
# but libgomp reads it only when torch loads, so a library cannot set it.
# Float results also depend on the thread count; one thread removes their
# dependence on the machine's number of cores.
DEFAULT_N_THREADS = 1


def resolve_n_threads(n_threads):
    """Validate ``n_threads`` and turn ``None`` into the default.

    Parameters
    ----------
    n_threads : int or None
        Number of torch threads, in [1, inf); ``None`` means
        ``DEFAULT_N_THREADS`` (one thread).

    Returns
    -------
    n_threads : int
        The number of threads to use.

    Raises
    ------
    TypeError
        If ``n_threads`` is neither an integer nor ``None`` (booleans included).
    ValueError
        If ``n_threads`` is smaller than 1.
    """
    if n_threads is None:
        return DEFAULT_N_THREADS
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(f"n_threads must be an int >= 1 or None, got {n_threads!r}.")
    if n_threads < 1:
        raise ValueError(f"n_threads must be an int >= 1 or None, got {n_threads!r}.")
    return int(n_threads)


# torch.set_num_threads sets the calling thread's own count (its OpenMP and MKL
# threads) and the count a thread adopts at its first parallel operation. A
# thread entering while another thread's limit is active may thus read that
# limit as its own count; it is restored to the count the process had before
# the first active limit instead. The lock keeps the reading, the bookkeeping
# and the setting of one thread from interleaving with another's.
class _SavedCounts(threading.local):
    """Per thread, the counts to restore, innermost limit last."""

    def __init__(self):
        self.counts = []


_lock = threading.Lock()
_saved = _SavedCounts()
_n_active = 0
_process_count = None


@contextlib.contextmanager
def limited_threads(n_threads):
    """Run the enclosed code with ``n_threads`` torch threads, then restore the count.

    On exit, normal or by an exception, the calling thread gets back the count
    it had on entry; nested limits restore the enclosing limit's count.

    ``torch.set_num_threads`` is not confined to the calling thread: a thread
    that has not yet run a parallel torch operation adopts the count last set
    by any thread. Limits active in several threads at once (fits or
    predictions run by a thread pool) each keep their own count; a thread that
    enters while another thread's limit is active is restored to the count the
    process had before the first of them, and once the last limit exits the
    count adopted by new threads is the caller's again.

    Parameters
    ----------
    n_threads : int or None
        Number of torch threads, in [1, inf); ``None`` means one thread (see
        :func:`resolve_n_threads`).

    Yields
    ------
    n_threads : int
        The number of threads in effect.

    Examples
    --------
    >>> import torch
    >>> from sklearn_resboost._threads import limited_threads
    >>> before = torch.get_num_threads()
    >>> with limited_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    global _n_active, _process_count
    n_threads = resolve_n_threads(n_threads)
    saved = _saved.counts
    with _lock:
        current = torch.get_num_threads()
        if _n_active == 0:
            _process_count = current
        elif not saved:
            current = _process_count
        saved.append(current)
        _n_active += 1
        torch.set_num_threads(n_threads)
    try:
        yield n_threads
    finally:
        with _lock:
            _n_active -= 1
            torch.set_num_threads(saved.pop())
