import copy
import itertools
import math
import sys

import matplotlib
import numpy as np
import pytest
import torch
from _params import SMALL_BOOST
from scipy.special import softmax
from scipy.stats import kendalltau
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, get_scorer, r2_score

from sklearn_resboost import (
    BoostResNetClassifier,
    BoostResNetRegressor,
    ResNetClassifier,
    inspection,
)
from sklearn_resboost.inspection import (
    DecompositionDisplay,
    LesionDisplay,
    PathLengthDisplay,
    ReorderDisplay,
    StagedScoresDisplay,
    _network,
    gradient_by_path_length,
    lesion_study,
    path_length_distribution,
    reorder_study,
    staged_scores,
)
from sklearn_resboost.inspection._network import (
    PathGradients,
    encode_targets,
    frozen,
    summed_loss,
)
from sklearn_resboost.inspection._studies import _shortest_range

matplotlib.use("Agg")

# Four blocks, all kept at the default lr: the tests delete, reorder and count
# the paths of four blocks.
BOOST = {**SMALL_BOOST, "n_estimators": 4, "lr": 1e-3}


@pytest.fixture(scope="module")
def binary():
    X, y = make_classification(n_samples=200, n_features=6, random_state=0)
    return BoostResNetClassifier(**BOOST).fit(X, y), X, y


@pytest.fixture(scope="module")
def multiclass():
    X, y = make_classification(
        n_samples=200, n_features=6, n_informative=4, n_classes=3, random_state=1
    )
    return BoostResNetClassifier(loss="log_loss", **BOOST).fit(X, y), X, y


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=0)
    return BoostResNetRegressor(**BOOST).fit(X, y), X, y


@pytest.fixture
def plain(binary):
    """The binary model's layers without their skip connections: a plain network."""
    clf, X, y = binary
    clf = copy.deepcopy(clf)
    clf.module_.skip = False
    return clf, X, y


class EndToEndLike(ClassifierMixin, BaseEstimator):
    """A classifier holding a ResNet and nothing of the boosted estimators' private API.

    Its probabilities are ``softmax`` of the scores, as for a cross-entropy model.
    """

    def __init__(self, module):
        self.module = module

    def fit(self, X, y):
        self.module_ = self.module
        self.classes_ = np.unique(y)
        self.n_features_in_ = X.shape[1]
        self.device_ = torch.device("cpu")
        return self

    def _scores(self, X):
        with torch.no_grad():
            return self.module_(torch.as_tensor(X, dtype=torch.float32)).double().numpy()

    def decision_function(self, X):
        return self._scores(X)

    def predict_proba(self, X):
        return softmax(self._scores(X), axis=1)

    def predict(self, X):
        return self.classes_[self._scores(X).argmax(axis=1)]


@pytest.fixture
def end_to_end_like(multiclass):
    clf, X, y = multiclass
    return EndToEndLike(copy.deepcopy(clf.module_)).fit(X, y), X, y


def hand_forward(module, X, blocks, skip=True):
    """The network written out: blocks applied in the given order, the final head on top."""
    # In float64, as the estimators predict on the CPU.
    module = copy.deepcopy(module).double().eval()
    with torch.no_grad():
        g = module.stem(torch.as_tensor(X, dtype=torch.float64))
        for k in blocks:
            branch = module.blocks[k](g)
            g = g + module.learning_rate * branch if skip else branch
        z = module.heads[module.n_blocks](g) * module.output_scale + module.output_offset
    return z.double().numpy()


def score_sum(estimator, X, y):
    """A scorer sensitive to every score: the sum of the decision function."""
    return float(np.sum(estimator.decision_function(X)))


def truncated(estimator, n_blocks):
    estimator = copy.deepcopy(estimator)
    del estimator.module_.blocks[n_blocks:]
    del estimator.module_.heads[n_blocks + 1 :]
    return estimator


# -- path counts ---------------------------------------------------------------


@pytest.mark.parametrize("n_blocks", [0, 1, 5, 30, 54, 70])
def test_path_counts_are_binomial(n_blocks):
    result = path_length_distribution(n_blocks)
    assert result.path_lengths.tolist() == list(range(n_blocks + 1))
    assert result.path_counts.tolist() == [math.comb(n_blocks, k) for k in range(n_blocks + 1)]
    assert sum(result.path_counts.tolist()) == 2**n_blocks == result.n_paths
    assert result.path_counts.dtype == (np.int64 if n_blocks <= 62 else object)
    np.testing.assert_allclose(result.path_fraction.sum(), 1.0)
    np.testing.assert_allclose(
        result.path_fraction * 2.0**n_blocks, result.path_counts.astype(float)
    )


def test_veit_effective_paths_are_a_small_share():
    # 54 blocks, lengths 5 to 17: the 0.45% of all paths quoted by Veit et al.
    fraction = path_length_distribution(54).path_fraction[5:18].sum()
    assert fraction == pytest.approx(0.0045, abs=5e-4)


@pytest.mark.parametrize("bad", [-1, 2.5, "3"])
def test_path_counts_validate_n_blocks(bad):
    with pytest.raises((ValueError, TypeError), match="n_blocks"):
        path_length_distribution(bad)


# -- the adapter from modified scores to predictions ----------------------------------


@pytest.mark.parametrize("data", ["binary", "multiclass", "regression"])
def test_frozen_network_reproduces_estimator(data, request):
    estimator, X, y = request.getfixturevalue(data)
    X_tensor = estimator._validate_X(X)
    module = estimator.module_
    net = frozen(
        estimator, lambda x: hand_forward(module, x, range(module.n_blocks)), (X, X_tensor)
    )
    np.testing.assert_array_equal(net.predict(X), estimator.predict(X))
    assert net.score(X, y) == estimator.score(X, y)
    if data != "regression":
        np.testing.assert_allclose(
            net.decision_function(X), estimator.decision_function(X), rtol=1e-6
        )
        np.testing.assert_allclose(net.predict_proba(X), estimator.predict_proba(X), rtol=1e-6)
        # A different X object goes through the estimator's validation.
        np.testing.assert_array_equal(net.predict(X[:7].copy()), estimator.predict(X[:7]))


def test_frozen_network_of_estimator_without_private_api(end_to_end_like):
    estimator, X, y = end_to_end_like
    module = estimator.module_
    net = frozen(
        estimator,
        lambda x: hand_forward(module, x, range(4)),
        (X, torch.tensor(X, dtype=torch.float32)),
    )
    np.testing.assert_allclose(net.predict_proba(X), estimator.predict_proba(X), rtol=1e-6)
    np.testing.assert_array_equal(net.predict(X), estimator.predict(X))


# -- lesion ----------------------------------------------------------------------


@pytest.mark.parametrize("scoring", [None, "roc_auc", "neg_log_loss", "f1"])
def test_no_deletion_reproduces_the_score(binary, scoring):
    clf, X, y = binary
    result = lesion_study(clf, X, y, n_deleted=[0], n_repeats=2, scoring=scoring, random_state=0)
    expected = clf.score(X, y) if scoring is None else get_scorer(scoring)(clf, X, y)
    assert result.baseline_score == pytest.approx(expected, rel=1e-9)
    np.testing.assert_allclose(result.scores, expected, rtol=1e-9)
    assert [d.size for d in result.deleted[0]] == [0, 0]


def test_deleting_block_is_identity_step(binary):
    clf, X, y = binary
    module = clf.module_
    result = lesion_study(
        clf, X, y, n_deleted=[1, 2, 4], n_repeats=3, scoring=score_sum, random_state=0
    )
    for k in range(4):
        kept = [j for j in range(4) if j != k]
        assert result.single_scores[k] == pytest.approx(
            hand_forward(module, X, kept).sum(), rel=1e-6
        )
    for i, row in enumerate(result.deleted):
        for r, deleted in enumerate(row):
            assert deleted.size == result.n_deleted[i]
            kept = [j for j in range(4) if j not in deleted]
            expected = hand_forward(module, X, kept).sum()
            assert result.scores[i, r] == pytest.approx(expected, rel=1e-6)
    # Deleting every block leaves the stem and the final head.
    assert result.scores_mean[-1] == pytest.approx(hand_forward(module, X, []).sum(), rel=1e-6)


def test_deleting_layer_of_plain_network(plain):
    clf, X, y = plain
    module = clf.module_
    result = lesion_study(clf, X, y, n_deleted=[0], n_repeats=1, scoring=score_sum)
    assert result.baseline_score == pytest.approx(
        hand_forward(module, X, range(4), skip=False).sum(), rel=1e-5
    )
    for k in range(4):
        kept = [j for j in range(4) if j != k]
        expected = hand_forward(module, X, kept, skip=False).sum()
        assert result.single_scores[k] == pytest.approx(expected, rel=1e-5)


def test_lesion_defaults_and_determinism(regression):
    reg, X, y = regression
    first = lesion_study(reg, X, y, n_repeats=2, random_state=3)
    second = lesion_study(reg, X, y, n_repeats=2, random_state=3)
    assert first.n_deleted.tolist() == [0, 1, 2, 3, 4]
    assert first.baseline_score == pytest.approx(r2_score(y, reg.predict(X)))
    np.testing.assert_array_equal(first.scores, second.scores)
    np.testing.assert_allclose(first.scores_mean, first.scores.mean(axis=1))
    np.testing.assert_allclose(first.scores_std, first.scores.std(axis=1))


def test_studies_restore_training_flag(binary):
    clf, X, y = binary
    clf.module_.train()
    try:
        lesion_study(clf, X, y, n_deleted=1, n_repeats=1, random_state=0)
        gradient_by_path_length(clf, X, y, n_samples=1, random_state=0)
        assert clf.module_.training
    finally:
        clf.module_.eval()


def test_studies_accept_dataframes(binary):
    pd = pytest.importorskip("pandas")
    clf, X, y = binary
    frame = pd.DataFrame(X)
    result = lesion_study(clf, frame, y, n_deleted=[0], n_repeats=1)
    assert result.baseline_score == clf.score(X, y)


def test_end_to_end_like_estimator(end_to_end_like):
    estimator, X, y = end_to_end_like
    result = lesion_study(estimator, X, y, n_deleted=[0], n_repeats=1, scoring="neg_log_loss")
    assert result.baseline_score == pytest.approx(get_scorer("neg_log_loss")(estimator, X, y))
    assert staged_scores(estimator, X, y).scores[-1] == estimator.score(X, y)


# -- reordering ---------------------------------------------------------------------


def test_identity_order_has_tau_one_and_the_score(multiclass):
    clf, X, y = multiclass
    result = reorder_study(clf, X, y, n_swaps=[0], n_repeats=3, random_state=0)
    np.testing.assert_array_equal(result.kendall_tau, 1.0)
    np.testing.assert_array_equal(result.orders[0], np.tile(np.arange(4), (3, 1)))
    np.testing.assert_array_equal(result.scores, clf.score(X, y))
    assert result.baseline_score == clf.score(X, y)


def test_reordered_network_matches_hand_forward(binary):
    clf, X, y = binary
    result = reorder_study(
        clf, X, y, n_swaps=[1, 2, 5], n_repeats=4, scoring=score_sum, random_state=0
    )
    assert result.orders.shape == (3, 4, 4)
    for i, j in itertools.product(range(3), range(4)):
        order = result.orders[i, j]
        assert sorted(order.tolist()) == [0, 1, 2, 3]
        assert result.kendall_tau[i, j] == pytest.approx(kendalltau(np.arange(4), order).statistic)
        expected = hand_forward(clf.module_, X, order).sum()
        assert result.scores[i, j] == pytest.approx(expected, rel=1e-6)
    # One swap always moves two blocks.
    assert (result.kendall_tau[0] < 1).all()
    np.testing.assert_allclose(result.kendall_tau_mean, result.kendall_tau.mean(axis=1))


def test_reorder_needs_two_blocks(binary):
    clf, X, y = binary
    single = truncated(clf, 1)
    with pytest.raises(ValueError, match="at least 2 blocks"):
        reorder_study(single, X, y, n_swaps=[1])
    result = reorder_study(single, X, y, n_swaps=[0], n_repeats=1)
    assert result.kendall_tau.tolist() == [[1.0]]


# -- gradient by path length ------------------------------------------------------


def autograd_gradient(estimator, X, y):
    """The network's own gradient of the study's loss at g_0, by plain autograd."""
    module = estimator.module_.eval()
    X = estimator._validate_X(X)
    target = encode_targets(estimator, y, len(module.output_scale), X.device)
    g0 = module.stem(X).detach().requires_grad_(True)
    g = g0
    for k in range(module.n_blocks):
        g = module.step(k, g)
    loss = summed_loss(estimator, module, module.scores(module.heads[module.n_blocks], g), target)
    (gradient,) = torch.autograd.grad(loss, g0)
    return gradient


@pytest.mark.parametrize("data", ["binary", "multiclass", "regression"])
def test_open_paths_give_the_autograd_gradient(data, request):
    estimator, X, y = request.getfixturevalue(data)
    module = estimator.module_.eval()
    X_tensor = estimator._validate_X(X)
    target = encode_targets(estimator, y, len(module.output_scale), X_tensor.device)
    gradients = PathGradients(estimator, module, X_tensor, target)
    expected = autograd_gradient(estimator, X, y)
    assert expected.abs().max() > 0
    # Every block open (no detach) is the network's gradient ...
    torch.testing.assert_close(gradients.full(), expected)
    # ... and so is the sum over all 2^T single paths.
    total = sum(
        gradients.path(blocks) for k in range(5) for blocks in itertools.combinations(range(4), k)
    )
    torch.testing.assert_close(total, expected, rtol=1e-4, atol=1e-6)
    # The path of length 0 only crosses skips: the gradient at g_T.
    torch.testing.assert_close(gradients.path([]), gradients.output_gradient)

    result = gradient_by_path_length(estimator, X, y, n_samples=1, random_state=0)
    assert result.full_gradient_norm == pytest.approx(expected.norm(dim=1).mean().item(), rel=1e-5)


def test_gradient_study_enumerates_small_lengths(binary):
    clf, X, y = binary
    # With 6 samples every length of a 4-block network is enumerated: no randomness.
    first = gradient_by_path_length(clf, X, y, n_samples=6, random_state=0)
    second = gradient_by_path_length(clf, X, y, n_samples=6, random_state=1)
    np.testing.assert_array_equal(first.gradient_norms, second.gradient_norms)

    module = clf.module_
    target = encode_targets(clf, y, 1, torch.device("cpu"))
    gradients = PathGradients(clf, module, clf._validate_X(X), target)
    for k in range(5):
        norms = [
            gradients.path(blocks).norm(dim=1).mean().item()
            for blocks in itertools.combinations(range(4), k)
        ]
        assert first.gradient_norms[k] == pytest.approx(np.mean(norms), rel=1e-5)
        assert first.gradient_norms_std[k] == pytest.approx(np.std(norms), rel=1e-4, abs=1e-12)

    assert first.path_counts.tolist() == [1, 4, 6, 4, 1]
    effective = first.path_fraction * first.gradient_norms
    np.testing.assert_allclose(first.effective_contribution, effective / effective.sum())
    lo, hi = first.effective_range
    assert first.effective_contribution[lo : hi + 1].sum() >= 0.9 - 1e-12
    assert first.effective_path_fraction == pytest.approx(first.path_fraction[lo : hi + 1].sum())


def test_shortest_range():
    weights = np.array([0.05, 0.1, 0.6, 0.2, 0.05])
    assert _shortest_range(weights, 0.9).tolist() == [1, 3]
    assert _shortest_range(weights, 0.5).tolist() == [2, 2]
    assert _shortest_range(weights, 1.0).tolist() == [0, 4]
    # Two ranges of the same length: the heavier one.
    assert _shortest_range(np.array([0.3, 0.3, 0.4]), 0.6).tolist() == [1, 2]


def test_gradient_study_rejects_plain_network(plain):
    clf, X, y = plain
    with pytest.raises(ValueError, match="skip connections"):
        gradient_by_path_length(clf, X, y)


def test_gradient_study_rejects_unknown_labels(binary):
    clf, X, y = binary
    with pytest.raises(ValueError, match="not in the estimator's classes_"):
        gradient_by_path_length(clf, X, y + 5)


# -- staged scores -------------------------------------------------------------------


def test_staged_scores_match_staged_predict(binary, regression):
    clf, X, y = binary
    result = staged_scores(clf, X, y)
    assert result.stages.tolist() == [0, 1, 2, 3, 4]
    expected = [accuracy_score(y, p) for p in clf.staged_predict(X)]
    np.testing.assert_array_equal(result.scores[1:], expected)
    prior = clf.classes_[int(clf.module_.heads[0].bias.item() > 0)]
    assert result.scores[0] == accuracy_score(y, np.full(len(y), prior))

    reg, X, y = regression
    result = staged_scores(reg, X, y)
    np.testing.assert_allclose(result.scores[1:], [r2_score(y, p) for p in reg.staged_predict(X)])


@pytest.mark.parametrize("study", [staged_scores, lesion_study])
def test_network_without_final_head(binary, study):
    clf, X, y = binary
    clf = copy.deepcopy(clf)
    del clf.module_.heads[-1]
    with pytest.raises(ValueError, match="final head"):
        study(clf, X, y)


# -- decompositions -------------------------------------------------------------------


@pytest.mark.parametrize("data", ["binary", "multiclass", "regression"])
def test_module_decompositions_match_estimator(data, request):
    estimator, X, y = request.getfixturevalue(data)
    X_tensor = estimator._validate_X(X)
    for kind in ("hypothesis", "feature"):
        expected = getattr(estimator, f"{kind}_ensemble")(X)
        got = _network._batched(
            estimator.module_, X_tensor, lambda m, x, kind=kind: m.contributions(x, kind), axis=1
        )
        # One implementation, on the network, serves both.
        np.testing.assert_array_equal(estimator._format(got), expected)


@pytest.mark.parametrize("kind", ["hypothesis", "feature"])
def test_decomposition_display_sums_to_scores(multiclass, end_to_end_like, kind):
    clf, X, y = multiclass
    display = DecompositionDisplay.from_estimator(clf, X, kind=kind, sample_index=[3, 10])
    predicted = clf.decision_function(X[[3, 10]]).argmax(axis=1)
    expected = clf.decision_function(X)[[3, 10], predicted]
    np.testing.assert_allclose(display.contributions.sum(axis=0), expected, rtol=1e-6)
    heights = [bar.get_height() for bar in display.total_bars_[0]]
    assert heights == pytest.approx([expected[0]], rel=1e-6)
    assert len(display.bars_[1]) == 5
    assert display.axes_[0].get_title() == f"sample 3 ({kind} ensemble)"

    # An estimator without the ensemble methods is decomposed from its module.
    estimator, X, y = end_to_end_like
    display = DecompositionDisplay.from_estimator(
        estimator, X, kind=kind, sample_index=3, class_index=2
    )
    assert display.contributions.sum() == pytest.approx(
        estimator.decision_function(X)[3, 2], rel=1e-6
    )


def test_decomposition_display_checks(binary, regression):
    clf, X, y = binary
    display = DecompositionDisplay.from_estimator(clf, X, kind="feature", sample_index=0)
    assert display.contributions.sum() == pytest.approx(clf.decision_function(X[:1])[0], rel=1e-6)
    with pytest.raises(ValueError, match="sample_index"):
        DecompositionDisplay.from_estimator(clf, X, sample_index=len(X))
    with pytest.raises(TypeError, match="sample_index"):
        DecompositionDisplay.from_estimator(clf, X, sample_index=[0.5])
    with pytest.raises(ValueError, match="kind"):
        DecompositionDisplay.from_estimator(clf, X, kind="paths")
    reg, X, y = regression
    display = DecompositionDisplay.from_estimator(reg, X, sample_index=[1, 2, 3])
    np.testing.assert_allclose(display.contributions.sum(axis=0), reg.predict(X[1:4]), rtol=1e-6)


def test_decomposition_of_multi_output_regressor_needs_class_index():
    X, y = make_regression(n_samples=100, n_features=4, n_targets=2, random_state=0)
    reg = BoostResNetRegressor(**{**BOOST, "n_estimators": 2}).fit(X, y)
    with pytest.raises(ValueError, match="class_index"):
        DecompositionDisplay.from_estimator(reg, X)
    with pytest.raises(ValueError, match="class_index"):
        DecompositionDisplay.from_estimator(reg, X, class_index=2)
    display = DecompositionDisplay.from_estimator(reg, X, sample_index=4, class_index=1)
    assert display.contributions.sum() == pytest.approx(reg.predict(X)[4, 1], rel=1e-6)


# -- input validation --------------------------------------------------------------------


STUDIES = [lesion_study, reorder_study, gradient_by_path_length, staged_scores]


@pytest.mark.parametrize("study", STUDIES)
def test_unfitted_estimator(study):
    X, y = make_classification(n_samples=20, random_state=0)
    with pytest.raises(NotFittedError):
        study(BoostResNetClassifier(), X, y)


@pytest.mark.parametrize("study", STUDIES)
def test_wrong_n_features(study, binary):
    clf, X, y = binary
    with pytest.raises(ValueError, match="features"):
        study(clf, X[:, :3], y)


@pytest.mark.parametrize("study", STUDIES)
def test_inconsistent_y(study, binary):
    clf, X, y = binary
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        study(clf, X, y[:-1])


@pytest.mark.parametrize("study", STUDIES)
def test_estimator_without_resnet(study, binary):
    _, X, y = binary
    with pytest.raises(TypeError, match="LogisticRegression is not a fitted estimator of sklearn_resboost"):
        study(LogisticRegression().fit(X, y), X, y)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_deleted": [5]}, ValueError, r"between 0 and 4; got \[5\]"),
        ({"n_deleted": 7}, ValueError, r"between 0 and 4; got \[7\]"),
        ({"n_deleted": [-1]}, ValueError, "between 0 and 4"),
        ({"n_deleted": [1.5]}, TypeError, "must hold integers"),
        ({"n_repeats": 0}, ValueError, "n_repeats"),
        ({"scoring": "no_such_score"}, ValueError, "no_such_score"),
    ],
)
def test_lesion_parameters(binary, kwargs, error, match):
    clf, X, y = binary
    with pytest.raises(error, match=match):
        lesion_study(clf, X, y, **kwargs)


def test_other_parameters(binary):
    clf, X, y = binary
    with pytest.raises(ValueError, match="n_swaps must hold integers non-negative"):
        reorder_study(clf, X, y, n_swaps=[-2])
    with pytest.raises(ValueError, match="coverage"):
        gradient_by_path_length(clf, X, y, coverage=0)
    with pytest.raises(ValueError, match="n_samples"):
        gradient_by_path_length(clf, X, y, n_samples=0)


# -- displays -----------------------------------------------------------------------------


def test_staged_scores_display(binary):
    import matplotlib.pyplot as plt

    clf, X, y = binary
    display = StagedScoresDisplay.from_estimator(clf, X, y, scoring="roc_auc", color="red")
    assert display.line_.get_color() == "red"
    np.testing.assert_allclose(
        display.line_.get_ydata(), staged_scores(clf, X, y, scoring="roc_auc").scores
    )
    assert display.ax_.get_ylabel() == "roc_auc"
    assert display.figure_ is display.ax_.figure
    display.plot(ax=display.ax_, name="again")
    assert len(display.ax_.get_lines()) == 2
    plt.close("all")


def test_lesion_display(binary, plain):
    import matplotlib.pyplot as plt

    clf, X, y = binary
    display = LesionDisplay.from_estimator(clf, X, y, n_repeats=2, random_state=0, name="resnet")
    assert display.axes_.shape == (2,)
    assert display.single_line_.get_ydata().tolist() == display.single_scores.tolist()
    assert display.baseline_line_.get_ydata()[0] == display.baseline_score
    assert display.deletion_line_.get_xdata().tolist() == [0, 1, 2, 3, 4]
    assert display.deletion_fill_ is not None
    assert display.axes_[0].get_ylabel() == "accuracy"
    other = LesionDisplay.from_estimator(
        *plain, n_repeats=2, random_state=0, name="plain", ax=display.axes_
    )
    assert len(display.axes_[0].get_lines()) == 4
    assert other.figure_ is display.figure_
    single = display.plot(kind="multiple")
    assert single.axes_.shape == (1,) and single.single_line_ is None
    with pytest.raises(ValueError, match="must hold 2 matplotlib Axes"):
        display.plot(ax=single.axes_[0])
    with pytest.raises(ValueError, match="kind"):
        display.plot(kind="all")
    plt.close("all")


def test_reorder_display(multiclass):
    import matplotlib.pyplot as plt

    clf, X, y = multiclass
    display = ReorderDisplay.from_estimator(
        clf, X, y, n_swaps=[0, 1, 2], n_repeats=3, random_state=0
    )
    assert display.scatter_.get_offsets().shape == (9, 2)
    assert display.fill_ is None
    np.testing.assert_allclose(
        np.sort(display.line_.get_xdata()), np.sort(np.asarray(display.kendall_tau).mean(axis=1))
    )
    display.plot(x="n_swaps")
    assert display.scatter_ is None and display.fill_ is not None
    assert display.ax_.get_xlabel() == "number of swapped pairs"
    with pytest.raises(ValueError, match="x must be one of"):
        display.plot(x="tau")
    plt.close("all")


def test_reorder_display_draws_the_mean_in_order_of_tau(multiclass):
    import matplotlib.pyplot as plt

    clf, X, y = multiclass
    display = ReorderDisplay.from_estimator(clf, X, y, n_repeats=3, random_state=0)
    tau_mean = display.kendall_tau.mean(axis=1)
    # The mean tau of these draws does not fall steadily with the swaps.
    assert (np.diff(tau_mean) > 0).any()
    x, y_line = display.line_.get_xdata(), display.line_.get_ydata()
    assert (np.diff(x) >= 0).all()
    points = sorted(zip(tau_mean.tolist(), display.scores.mean(axis=1).tolist()))
    np.testing.assert_allclose(np.column_stack([x, y_line]), points)
    plt.close("all")


def test_count_axes_have_integer_ticks(binary):
    import matplotlib.pyplot as plt

    clf, X, y = binary
    lesion = LesionDisplay.from_estimator(clf, X, y, n_repeats=1, random_state=0)
    # Blocks are numbered from 1, as in DecompositionDisplay.
    assert lesion.single_line_.get_xdata().tolist() == [1, 2, 3, 4]
    axes = [
        *lesion.axes_,
        StagedScoresDisplay.from_estimator(clf, X, y).ax_,
        ReorderDisplay.from_estimator(
            clf, X, y, n_swaps=[0, 1, 2], n_repeats=1, random_state=0, x="n_swaps"
        ).ax_,
        *PathLengthDisplay.from_estimator(clf, X, y, n_samples=1, random_state=0).axes_,
    ]
    for axis in axes:
        ticks = axis.get_xticks()
        np.testing.assert_array_equal(ticks, np.round(ticks), err_msg=axis.get_xlabel())
    plt.close("all")


def figure_titles(display):
    return [text.get_text() for text in display.figure_.texts]


def test_display_titles(binary, plain):
    import matplotlib.pyplot as plt

    clf, X, y = binary
    expected = ["BoostResNetClassifier, 4 blocks, on 200 samples"]
    lesion = LesionDisplay.from_estimator(clf, X, y, n_repeats=1, random_state=0, name="boosted")
    assert figure_titles(lesion) == expected
    assert figure_titles(StagedScoresDisplay.from_estimator(clf, X, y)) == expected
    reorder = ReorderDisplay.from_estimator(
        clf, X, y, n_swaps=[0, 1], n_repeats=1, random_state=0
    )
    assert figure_titles(reorder) == expected
    paths = PathLengthDisplay.from_estimator(clf, X, y, n_samples=1, random_state=0)
    assert figure_titles(paths) == expected
    decomposition = DecompositionDisplay.from_estimator(clf, X, sample_index=[0, 1])
    assert figure_titles(decomposition) == ["BoostResNetClassifier, 4 blocks"]

    # A second model drawn on the first one's axes leaves the title alone ...
    LesionDisplay.from_estimator(*plain, n_repeats=1, name="plain", ax=lesion.axes_)
    assert figure_titles(lesion) == expected
    # ... unless given one.
    lesion.plot(ax=lesion.axes_, title="two networks")
    assert figure_titles(lesion) == ["two networks"]
    # Built from arrays, a display writes what it knows.
    assert figure_titles(lesion.plot()) == ["boosted, 4 blocks"]
    distribution = path_length_distribution(10)
    bare = PathLengthDisplay(
        path_lengths=distribution.path_lengths, path_fraction=distribution.path_fraction
    ).plot(kind="distribution")
    assert figure_titles(bare) == ["10 blocks"]
    mine = StagedScoresDisplay.from_estimator(clf, X, y, title="mine")
    assert figure_titles(mine) == ["mine"]
    assert figure_titles(decomposition.plot(title="")) == []
    plt.close("all")


@pytest.mark.parametrize("kind, first", [("hypothesis", "prior"), ("feature", "stem")])
def test_decomposition_display_labels_blocks(binary, kind, first):
    import matplotlib.pyplot as plt

    clf, X, y = binary
    display = DecompositionDisplay.from_estimator(clf, X, kind=kind)
    labels = [label.get_text() for label in display.axes_[0].get_xticklabels()]
    assert labels == [first, "block 1", "block 2", "block 3", "block 4", "total"]
    # Of 30 blocks every other one is labelled, and "total" keeps its room.
    display = DecompositionDisplay(
        contributions=np.ones((31, 1)), kind=kind, sample_index=[0], score_labels=["score"]
    ).plot()
    labels = [label.get_text() for label in display.axes_[0].get_xticklabels()]
    assert labels == [first, *(f"block {t}" for t in range(2, 29, 2)), "total"]
    plt.close("all")


def test_path_length_display(regression):
    import matplotlib.pyplot as plt

    reg, X, y = regression
    display = PathLengthDisplay.from_estimator(reg, X, y, n_samples=2, random_state=0)
    assert display.axes_.shape == (3,)
    assert display.axes_[1].get_yscale() == "log"
    np.testing.assert_allclose(display.effective_line_.get_ydata(), display.effective_contribution)
    assert display.effective_span_ is not None
    distribution = path_length_distribution(4)
    bare = PathLengthDisplay(
        path_lengths=distribution.path_lengths, path_fraction=distribution.path_fraction
    )
    bare.plot(kind="distribution")
    assert bare.gradient_line_ is None
    with pytest.raises(ValueError, match="gradient_by_path_length"):
        bare.plot(kind="gradient")
    plt.close("all")


def test_displays_need_matplotlib(binary, monkeypatch):
    clf, X, y = binary
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="requires matplotlib"):
        StagedScoresDisplay.from_estimator(clf, X, y)
    with pytest.raises(ImportError, match="LesionDisplay.plot requires matplotlib"):
        LesionDisplay(
            baseline_score=1.0,
            single_scores=[1.0],
            n_deleted=[0],
            scores_mean=[1.0],
            scores_std=[0.0],
        ).plot()


def test_public_names():
    assert set(inspection.__all__) == {
        "DecompositionDisplay",
        "LesionDisplay",
        "PathLengthDisplay",
        "ReorderDisplay",
        "StagedScoresDisplay",
        "gradient_by_path_length",
        "lesion_study",
        "path_length_distribution",
        "reorder_study",
        "staged_scores",
    }


@pytest.mark.cuda
@pytest.mark.parametrize("make", [BoostResNetClassifier, ResNetClassifier])
def test_studies_on_cuda(make, multiclass_data):
    X, y = multiclass_data
    params = dict(n_estimators=4, epochs_per_block=2) if make is BoostResNetClassifier else dict(
        n_blocks=4, max_epochs=5
    )
    clf = make(device="cuda", random_state=0, **params).fit(X, y)
    lesion = lesion_study(clf, X, y, n_deleted=[0, 1], n_repeats=2, random_state=0)
    assert lesion.baseline_score == pytest.approx(clf.score(X, y))
    assert lesion.scores_mean[0] == pytest.approx(clf.score(X, y))
    reorder = reorder_study(clf, X, y, n_swaps=[0, 1], n_repeats=2, random_state=0)
    assert reorder.scores_mean[0] == pytest.approx(clf.score(X, y))
    gradients = gradient_by_path_length(clf, X, y, n_samples=5, random_state=0)
    assert np.all(np.isfinite(gradients.gradient_norms))
    assert staged_scores(clf, X, y).scores[-1] == pytest.approx(clf.score(X, y))
    scores = clf.decision_function(X)
    for kind in ("hypothesis", "feature"):
        display = DecompositionDisplay.from_estimator(clf, X, kind=kind, sample_index=0)
        assert display.contributions.sum(axis=0) == pytest.approx(
            scores[0, scores[0].argmax()], rel=1e-4, abs=1e-4
        )
