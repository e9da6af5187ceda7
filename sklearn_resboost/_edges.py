"""The BoostResNet edges (Huang et al., 2018, section 4 and appendix F).

All functions take float64 NumPy scores of shape ``(n, K)`` and encoded labels:
``y`` in {-1, +1} for a single binary score, class indices otherwise.
"""

import numpy as np
from scipy.special import softmax

# alpha is finite only for an edge strictly inside (-1, 1).
_EDGE_CLIP = 1 - 1e-12
_DENOMINATOR_FLOOR = 1e-300


def hypothesis_edge(z_prev, z_next, y, sample_weight):
    """Edge ``gamma~_{t+1}`` of the hypothesis module ``z_next`` under the costs of ``z_prev``."""
    w = np.asarray(sample_weight, dtype=np.float64)
    if z_prev.shape[1] == 1:
        log_d = np.log(w) - y * z_prev[:, 0]
        # Normalised by the sum rather than by logsumexp: at huge scores
        # logsumexp absorbs log(k) of k equal maxima and d would sum to k.
        d = np.exp(log_d - log_d.max())
        d /= d.sum()
        return float(np.sum(d * y * np.tanh(z_next[:, 0] / 2)))
    n = len(y)
    rows = np.arange(n)
    # log C(i, l) = s(i, l) - s(i, y_i) for l != y_i, weighted, normalised by the max.
    log_c = z_prev - z_prev[rows, y][:, None] + np.log(w)[:, None]
    log_c[rows, y] = -np.inf
    c = np.exp(log_c - log_c.max())
    c[rows, y] = -c.sum(axis=1)
    o = softmax(z_next, axis=1)
    return float(np.sum(c * o) / c[rows, y].sum())


def block_edge(edge_prev, edge_next):
    """Edge ``gamma_t`` of the weak module classifier, a signed square root.

    An earlier edge of exactly 1 (a perfect hypothesis module) leaves the ratio
    undefined: its denominator is floored and the result clipped to [-1, 1].
    """
    radicand = (edge_next**2 - edge_prev**2) / max(1 - edge_prev**2, _DENOMINATOR_FLOOR)
    return float(np.clip(np.sign(radicand) * np.sqrt(abs(radicand)), -1.0, 1.0))


def is_perfect(edge):
    """Whether a hypothesis edge is 1 to float precision: no training cost is left.

    The next block's edge is then undefined (its denominator ``1 - edge**2``
    is 0) and alpha is at its clip, as in AdaBoost when a weak learner makes
    no weighted error.
    """
    return edge >= _EDGE_CLIP


def alpha(edge):
    """``0.5 * log((1 + edge) / (1 - edge))`` with the edge clipped inside (-1, 1)."""
    edge = np.clip(edge, -_EDGE_CLIP, _EDGE_CLIP)
    return float(0.5 * np.log((1 + edge) / (1 - edge)))
