"""The edges, checked against an independent loop-based NumPy transcription of DESIGN.md."""

import numpy as np
import pytest

from sklearn_resboost import BoostResNetClassifier
from sklearn_resboost._edges import alpha, block_edge, hypothesis_edge, is_perfect


def reference_edges(stages, y, w):
    """Transcription of DESIGN.md section 2, one sample and one class at a time.

    ``stages`` are the scores z_0, ..., z_T of shape (n, K); ``y`` holds class
    indices (binary: 0/1 for a single score).
    """
    n, K = stages[0].shape
    tilde, blocks, alphas = [0.0], [], []
    for t in range(len(stages) - 1):
        s, z_next = stages[t], stages[t + 1]
        if K == 1:
            sign = np.where(y == 1, 1.0, -1.0)
            d = np.array([w[i] * np.exp(-sign[i] * s[i, 0]) for i in range(n)])
            d /= d.sum()
            edge = sum(d[i] * sign[i] * np.tanh(z_next[i, 0] / 2) for i in range(n))
        else:
            cost = np.zeros((n, K))
            for i in range(n):
                for label in range(K):
                    if label != y[i]:
                        cost[i, label] = w[i] * np.exp(s[i, label] - s[i, y[i]])
                cost[i, y[i]] = -sum(cost[i, label] for label in range(K) if label != y[i])
            o = np.exp(z_next) / np.exp(z_next).sum(axis=1, keepdims=True)
            numerator = -sum(cost[i] @ o[i] for i in range(n))
            denominator = sum(cost[i, label] for i in range(n) for label in range(K) if label != y[i])
            edge = numerator / denominator
        radicand = (edge**2 - tilde[-1] ** 2) / (1 - tilde[-1] ** 2)
        blocks.append(np.sign(radicand) * np.sqrt(abs(radicand)))
        alphas.append(0.5 * np.log((1 + edge) / (1 - edge)))
        tilde.append(edge)
    return np.array(tilde[1:]), np.array(blocks), np.array(alphas)


def stage_scores(clf, X):
    parts = clf.hypothesis_ensemble(X)
    scores = np.cumsum(parts, axis=0)
    return [s.reshape(len(X), -1) for s in scores]


@pytest.mark.parametrize("loss", ["exponential", "log_loss"])
@pytest.mark.parametrize("data", ["binary_data", "multiclass_data"])
def test_fitted_edges_match_reference(loss, data, request, rng):
    X, y = request.getfixturevalue(data)
    w = rng.uniform(0.5, 2.0, size=len(y))
    clf = BoostResNetClassifier(
        loss=loss, n_estimators=4, epochs_per_block=4, batch_size=32, width=16, hidden_size=16,
        learning_rate=0.3, random_state=0,
    ).fit(X, y, sample_weight=w)
    assert clf.n_estimators_ >= 2
    tilde, blocks, alphas = reference_edges(stage_scores(clf, X), y, w)
    # Training computes the edges from float32 scores, the reference from the
    # float64 inference pass.
    np.testing.assert_allclose(clf.hypothesis_edges_, tilde, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(clf.block_edges_, blocks, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(clf.alphas_, alphas, rtol=1e-4, atol=1e-5)


def test_hypothesis_edge_is_stable_for_huge_scores():
    z_prev = np.array([[800.0, 0.0, -800.0], [0.0, 900.0, 0.0]])
    z_next = z_prev * 1.1
    edge = hypothesis_edge(z_prev, z_next, np.array([2, 0]), np.ones(2))
    assert np.isfinite(edge) and -1 <= edge <= 1
    binary = hypothesis_edge(
        np.array([[-900.0], [900.0]]), np.array([[-950.0], [950.0]]), np.array([1, -1]), np.ones(2)
    )
    assert binary == pytest.approx(-1.0)


def test_block_edge_after_a_perfect_edge_is_defined():
    assert block_edge(1.0, 1.0) == 0.0
    assert block_edge(1.0, 0.5) == -1.0
    assert block_edge(0.0, 0.6) == pytest.approx(0.6)
    assert block_edge(0.6, 0.0) == pytest.approx(-0.75)


def test_edge_product_identity():
    # prod_t (1 - gamma_t^2) = 1 - gamma~_T^2 when every radicand is non-negative.
    tilde = [0.2, 0.5, 0.7, 0.9]
    blocks = [block_edge(a, b) for a, b in zip([0.0] + tilde[:-1], tilde)]
    assert np.prod(1 - np.square(blocks)) == pytest.approx(1 - tilde[-1] ** 2)


def test_alpha_is_clipped():
    assert np.isfinite(alpha(1.0)) and alpha(1.0) > 10
    assert alpha(0.0) == 0.0
    assert alpha(-0.5) == pytest.approx(-alpha(0.5))


def test_is_perfect_exactly_where_alpha_is_clipped():
    assert is_perfect(1.0) and is_perfect(1 - 1e-13)
    assert not is_perfect(1 - 1e-9) and not is_perfect(-1.0)
    assert alpha(1 - 1e-13) == alpha(1.0)
    assert alpha(1 - 1e-9) < alpha(1.0)
