import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification, make_regression


@pytest.fixture(autouse=True, scope="session")
def _single_thread():
    # The suite fits many small networks; one thread avoids oversubscribing
    # small CI machines and keeps float results independent of the core count.
    torch.set_num_threads(1)


@pytest.fixture
def binary_data():
    X, y = make_classification(
        n_samples=200, n_features=6, n_informative=4, random_state=0
    )
    return X, y


@pytest.fixture
def multiclass_data():
    X, y = make_classification(
        n_samples=240, n_features=8, n_informative=5, n_classes=3, random_state=0
    )
    return X, y


@pytest.fixture
def regression_data():
    X, y = make_regression(n_samples=200, n_features=6, noise=5.0, random_state=0)
    return X, y


@pytest.fixture
def rng():
    return np.random.RandomState(0)
