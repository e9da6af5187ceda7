"""Tests of the end-to-end estimators ResNetClassifier and ResNetRegressor."""

import numpy as np
import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_resboost import ResNetClassifier, ResNetRegressor

SMALL = dict(n_blocks=2, width=16, hidden_size=16, max_epochs=20, lr=1e-2, device="cpu")


def _expected_failed_checks(estimator):
    return {
        "check_sample_weight_equivalence_on_dense_data": (
            "minibatch training: a weight of 2 is not the same as a repeated row"
        ),
    }


@parametrize_with_checks(
    [ResNetClassifier(**SMALL, random_state=0), ResNetRegressor(**SMALL, random_state=0)],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
