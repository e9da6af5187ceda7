"""scikit-learn's own estimator checks on every estimator of the package."""

from _params import SMALL_BOOST
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_resboost import BoostResNetClassifier, BoostResNetRegressor

# Small models, as scikit-learn shrinks its own boosting models for these checks.
# They still train well enough for the checks' floors: check_classifiers_train
# asks an accuracy above 0.83 (0.96 binary, 0.92 three classes here),
# check_regressors_train an R^2 above 0.5 (0.78 here).
ESTIMATORS = [BoostResNetClassifier(**SMALL_BOOST), BoostResNetRegressor(**SMALL_BOOST)]

SAMPLE_WEIGHT_REASON = (
    "sample_weight is not equivalent to removing/repeating samples: the stem's "
    "statistics are weighted, but training draws minibatches of rows, so a repeated "
    "row is drawn twice per epoch where a weighted one is drawn once, input_noise draws "
    "its noise row by row, and the order and composition of the minibatches differ; the "
    "fit differs beyond the check's tolerance (scikit-learn waives this check for its "
    "own boosting models too)."
)


def expected_failed_checks(estimator):
    return {
        "check_sample_weight_equivalence_on_dense_data": SAMPLE_WEIGHT_REASON,
        "check_sample_weight_equivalence_on_sparse_data": SAMPLE_WEIGHT_REASON,
    }


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
