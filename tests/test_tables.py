"""Real tables: categorical columns and missing values (``_tables`` and the stem)."""

import pickle

import numpy as np
import pytest
import torch
from _params import TINY_BOOST, TINY_E2E, tiny_estimators
from test_persistence import _read, _write

from sklearn_resboost import (
    BoostResNetClassifier,
    BoostResNetRegressor,
    ResNetRegressor,
    Stem,
    load,
)
from sklearn_resboost._tables import FIRST_LEVEL, INFREQUENT_CODE, MISSING_CODE
from sklearn_resboost.inspection import lesion_study, staged_scores

pd = pytest.importorskip("pandas")

ESTIMATORS = tiny_estimators()


def _table(n=240, seed=0):
    """A frame of numbers, strings and missing values, and a target that depends on them all."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "size": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], size=n).astype(object),
            "count": pd.array(rng.integers(0, 5, size=n), dtype="Int64"),
            "city": pd.Categorical(rng.choice(["a", "b", "c", "d"], size=n)),
        }
    )
    frame.loc[rng.random(n) < 0.2, "size"] = np.nan
    frame.loc[rng.random(n) < 0.1, "colour"] = None
    frame.loc[rng.random(n) < 0.1, "count"] = pd.NA
    signal = frame["size"].fillna(2.0) + (frame["colour"] == "red") - (frame["city"] == "a")
    return frame, signal.to_numpy(dtype=float)


def _target(make, signal):
    return (signal > np.median(signal)).astype(int) if "Classifier" in make.__name__ else signal


@pytest.mark.parametrize("make, params", ESTIMATORS)
def test_a_raw_frame_fits_and_predicts_finite_values(make, params):
    X, signal = _table()
    y = _target(make, signal)
    model = make(**params).fit(X, y)
    np.testing.assert_array_equal(model.is_categorical_, [False, True, False, True])
    assert [list(levels) for levels in model.categories_] == [
        ["blue", "green", "red"],
        ["a", "b", "c", "d"],
    ]
    assert list(model.feature_names_in_) == ["size", "colour", "count", "city"]
    assert np.isfinite(model._raw_scores(X)).all()
    assert model.__sklearn_tags__().input_tags.allow_nan
    # Learned: on its own training rows the fit beats the constant prior.
    assert model.score(X, y) > (0.6 if "Classifier" in make.__name__ else 0.0)


def test_codes_and_encode_inputs():
    X, signal = _table()
    model = BoostResNetClassifier(**TINY_BOOST).fit(X, signal > 0)
    rows = pd.DataFrame(
        {
            "size": [np.nan, 1.5],
            "colour": ["green", "purple"],
            "count": pd.array([pd.NA, 3], dtype="Int64"),
            "city": [None, "b"],
        }
    )
    encoded = model.encode_inputs(rows)
    assert encoded.dtype == np.float32
    np.testing.assert_array_equal(
        encoded,
        [
            [np.nan, FIRST_LEVEL + 1, np.nan, MISSING_CODE],
            [1.5, INFREQUENT_CODE, 3.0, FIRST_LEVEL + 1],
        ],
    )
    torch.testing.assert_close(
        model.module_(torch.as_tensor(encoded)).detach().double().numpy(), model._raw_scores(rows)
    )


def test_unseen_category_enters_as_the_training_average_without_infrequent_ones():
    X, signal = _table()
    model = BoostResNetRegressor(**TINY_BOOST).fit(X, signal)
    stem = model.module_.stem
    vectors = stem.code_vectors().detach()
    # The vectors of each feature are centred under the training frequencies.
    for k in range(2):
        rows = stem.code_feature == k
        mean = (vectors[rows] * stem.frequency[rows, None]).sum(0)
        torch.testing.assert_close(mean, torch.zeros_like(mean), atol=1e-6, rtol=0)
    # No colour was infrequent: the infrequent code had no training row, so a
    # colour never seen adds nothing, like the training average.
    assert stem.frequency[INFREQUENT_CODE] == 0
    np.testing.assert_array_equal(vectors[INFREQUENT_CODE], 0)
    unseen = X.iloc[:5].copy()
    unseen["colour"] = "purple"
    assert np.isfinite(model.predict(unseen)).all()


def test_infrequent_categories_share_a_vector_with_unseen_ones():
    X, signal = _table()
    X["colour"] = X["colour"].astype(object)
    X.loc[:2, "colour"] = ["rare1", "rare2", "rare3"]
    model = BoostResNetRegressor(**TINY_BOOST, min_frequency=2).fit(X, signal)
    assert list(model.categories_[0]) == ["blue", "green", "red"]
    frequency = model.module_.stem.frequency
    assert frequency[INFREQUENT_CODE] == pytest.approx(3 / len(X))
    rare, unseen = X.iloc[:1].copy(), X.iloc[:1].copy()
    unseen["colour"] = "never seen"
    np.testing.assert_array_equal(model.predict(rare), model.predict(unseen))
    fraction = BoostResNetRegressor(**TINY_BOOST, min_frequency=0.3).fit(X, signal)
    assert all(len(levels) <= 3 for levels in fraction.categories_)


def test_missing_value_of_a_feature_complete_in_fit_enters_as_its_mean():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ [1.0, -2.0, 0.5]
    model = BoostResNetRegressor(**TINY_BOOST).fit(X, y)
    center = model.module_.stem.center.double().numpy()
    with_nan, with_mean = X[:10].copy(), X[:10].copy()
    with_nan[:, 1] = np.nan
    with_mean[:, 1] = center[1]
    np.testing.assert_array_equal(model.predict(with_nan), model.predict(with_mean))


def test_missing_values_are_learned_per_feature():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 2))
    missing = rng.random(600) < 0.3
    # A missing value means a large target, which its mean would not give.
    y = X[:, 0] + 4.0 * missing
    X[missing, 1] = np.nan
    model = BoostResNetRegressor(n_estimators=5, random_state=0).fit(X, y)
    assert model.score(X, y) > 0.9
    assert model.module_.stem.missing[1].abs().sum() > 0
    np.testing.assert_array_equal(model.module_.stem.missing[0].detach(), 0)


@pytest.mark.parametrize(
    "categorical_features",
    [["colour", "city"], [1, 3], [-3, -1], [False, True, False, True], np.array([1, 3])],
)
def test_categorical_features_as_hist_gradient_boosting_takes_them(categorical_features):
    X, signal = _table()
    X["city"] = X["city"].astype(str)
    model = BoostResNetRegressor(**TINY_BOOST, categorical_features=categorical_features)
    model.fit(X, signal)
    np.testing.assert_array_equal(model.is_categorical_, [False, True, False, True])


def test_numeric_categories_of_an_array():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=300), rng.integers(0, 4, size=300) * 10.0])
    X[:5, 1] = np.nan
    y = X[:, 0] + (X[:, 1] == 20)
    model = BoostResNetRegressor(**TINY_BOOST, categorical_features=[1]).fit(X, y)
    np.testing.assert_array_equal(model.categories_[0], [0.0, 10.0, 20.0, 30.0])
    assert model.categories_[0].dtype == np.float64
    assert np.isfinite(model.predict(X)).all()
    # From the dtype, an array has no categorical column.
    assert not BoostResNetRegressor(**TINY_BOOST).fit(X, y).is_categorical_.any()


def test_a_list_with_strings_and_indices():
    X = [["a", 1.0], ["b", 2.0], ["a", None], [None, 4.0]] * 10
    y = [0, 1, 0, 1] * 10
    model = BoostResNetClassifier(**TINY_BOOST, categorical_features=[0]).fit(X, y)
    assert list(model.categories_[0]) == ["a", "b"]
    assert model.predict(X).shape == (40,)


@pytest.mark.parametrize(
    "categorical_features, message",
    [
        (["nope"], r"names \['nope'\], which are not columns"),
        ([7], r"indices \[7\] outside the 4 features"),
        ([True, False], "needs one entry per feature: got 2 entries for 4 features"),
        ([[1, 2]], "1-D array-like"),
        ([1.5], "integer indices"),
    ],
)
def test_bad_categorical_features_are_refused(categorical_features, message):
    X, signal = _table()
    with pytest.raises(ValueError, match=message):
        BoostResNetRegressor(**TINY_BOOST, categorical_features=categorical_features).fit(
            X, signal
        )


def test_names_need_a_frame():
    X, signal = _table()
    with pytest.raises(ValueError, match="X has no feature names"):
        BoostResNetRegressor(**TINY_BOOST, categorical_features=["size"]).fit(
            X[["size"]].to_numpy(), signal
        )


def test_text_without_categorical_features_is_refused_with_advice():
    X, signal = _table()
    with pytest.raises(ValueError, match="needs numeric X.*categorical_features"):
        BoostResNetRegressor(**TINY_BOOST, categorical_features=None).fit(X, signal)


def test_a_column_entirely_missing_in_fit_is_refused():
    X, signal = _table()
    X["size"] = np.nan
    with pytest.raises(ValueError, match=r"columns \[0\] whose values are all missing"):
        BoostResNetRegressor(**TINY_BOOST).fit(X, signal)
    X, signal = _table()
    X["colour"] = None
    with pytest.raises(ValueError, match="'colour' of X has only missing values in fit"):
        BoostResNetRegressor(**TINY_BOOST).fit(X, signal)


def test_a_column_that_changes_type_is_refused():
    X, signal = _table()
    model = BoostResNetRegressor(**TINY_BOOST).fit(X, signal)
    numbers = X.copy()
    numbers["colour"] = 1.0
    with pytest.raises(ValueError, match="'colour' had text categories in fit"):
        model.predict(numbers)
    text = X.copy()
    text["size"] = "big"
    with pytest.raises(ValueError, match="'size' was numeric in fit"):
        model.predict(text)


def test_mixed_types_in_a_categorical_column_are_refused():
    X, signal = _table()
    X["colour"] = X["colour"].astype(object)
    X.loc[0, "colour"] = 3
    with pytest.raises(ValueError, match="'colour' mixes values of types"):
        BoostResNetRegressor(**TINY_BOOST).fit(X, signal)


def test_high_cardinality():
    rng = np.random.default_rng(0)
    n = 3000
    zips = rng.integers(0, 600, size=n)
    effect = rng.normal(size=600)
    X = pd.DataFrame({"zip": [f"z{z:03d}" for z in zips], "x": rng.normal(size=n)})
    y = effect[zips] + X["x"].to_numpy()
    model = BoostResNetRegressor(n_estimators=3, random_state=0).fit(X, y)
    assert len(model.categories_[0]) > 250
    assert model.score(X, y) > 0.5


def test_decompositions_telescope_on_a_table():
    X, signal = _table()
    model = BoostResNetClassifier(**TINY_BOOST).fit(X, signal > 0)
    scores = model.decision_function(X)
    for parts in (model.hypothesis_ensemble(X), model.feature_ensemble(X)):
        np.testing.assert_allclose(parts.sum(axis=0).ravel(), scores, atol=1e-5)
    staged = list(model.staged_decision_function(X))
    np.testing.assert_allclose(staged[-1], scores, atol=1e-6)
    y = signal > 0
    assert len(staged_scores(model, X, y)["scores"]) == model.n_estimators_ + 1
    assert np.isfinite(lesion_study(model, X, y).single_scores).all()


def test_warm_start_keeps_the_categories():
    X, signal = _table()
    model = BoostResNetRegressor(**TINY_BOOST, warm_start=True).fit(X, signal)
    categories = [levels.copy() for levels in model.categories_]
    more = X.copy()
    more["colour"] = "purple"
    model.set_params(n_estimators=TINY_BOOST["n_estimators"] + 1).fit(more, signal)
    assert model.n_estimators_ <= TINY_BOOST["n_estimators"] + 1
    for before, after in zip(categories, model.categories_):
        np.testing.assert_array_equal(before, after)


def test_sample_weight_weighs_the_stem_statistics():
    X, signal = _table()
    weight = np.where(X["colour"] == "red", 3.0, 1.0)
    model = BoostResNetRegressor(**TINY_BOOST).fit(X, signal, sample_weight=weight)
    size = X["size"].to_numpy()
    observed = ~np.isnan(size)
    expected = np.average(size[observed], weights=weight[observed])
    assert model.module_.stem.center[0].item() == pytest.approx(expected, rel=1e-6)
    codes = model.encode_inputs(X)[:, 1].astype(int)
    red = model.module_.stem.frequency[FIRST_LEVEL + 2].item()
    assert red == pytest.approx(weight[codes == FIRST_LEVEL + 2].sum() / weight.sum())


def test_early_stopping_on_a_table():
    X, signal = _table(n=400)
    model = BoostResNetClassifier(**TINY_BOOST, early_stopping=True).fit(X, signal > 0)
    assert len(model.validation_score_) == model.n_estimators_ + 1


@pytest.mark.parametrize("make, params", ESTIMATORS)
def test_save_load_and_pickle_keep_the_categories(tmp_path, make, params):
    X, signal = _table()
    model = make(**params).fit(X, _target(make, signal))
    path = tmp_path / "table.safetensors"
    model.save(path)
    document, _ = _read(path)
    assert "pickle" not in str(document["attributes"]["categories_"])
    for restored in (load(path), pickle.loads(pickle.dumps(model))):
        np.testing.assert_array_equal(restored._raw_scores(X), model._raw_scores(X))
        for saved, levels in zip(restored.categories_, model.categories_):
            np.testing.assert_array_equal(saved, levels)


def test_a_file_whose_categories_do_not_match_its_network_is_refused(tmp_path):
    X, signal = _table()
    model = BoostResNetRegressor(**TINY_BOOST).fit(X, signal)
    path = tmp_path / "table.safetensors"
    model.save(path)
    document, tensors = _read(path)
    document["network"]["cardinalities"][1] += 1
    _write(path, document, tensors)
    with pytest.raises(ValueError, match="not a valid sklearn_resboost model file"):
        load(path)


@pytest.mark.parametrize("make", [BoostResNetClassifier, ResNetRegressor])
def test_files_written_before_categories_load(tmp_path, make):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    y = _target(make, X[:, 0])
    # Written before the categories, hence before the numeric bins too.
    params = TINY_BOOST if make is BoostResNetClassifier else TINY_E2E
    model = make(**params, numeric_bins=None).fit(X, y)
    path = tmp_path / "old.safetensors"
    model.save(path)
    document, tensors = _read(path)
    for name in ("cardinalities", "numeric_bins"):
        del document["network"][name]
    for name in ("is_categorical_", "categories_"):
        del document["attributes"][name]
    for name in ("categorical_features", "min_frequency", "numeric_bins"):
        del document["params"][name]
    for name in ("module.stem.missing", "module.stem.embedding", "module.stem.frequency"):
        del tensors[name]
    tensors = {name: array for name, array in tensors.items() if name in str(document)
               or name.startswith("module.")}
    _write(path, document, tensors)
    loaded = load(path)
    np.testing.assert_array_equal(loaded._raw_scores(X), model._raw_scores(X))
    with_nan = X.copy()
    with_nan[0, 0] = np.nan
    assert np.isfinite(loaded._raw_scores(with_nan)).all()


def test_to_skorch_takes_the_encoded_inputs():
    X, signal = _table()
    model = BoostResNetClassifier(**TINY_BOOST).fit(X, signal > 0)
    net = model.to_skorch()
    np.testing.assert_allclose(
        net.predict_proba(model.encode_inputs(X)), model.predict_proba(X), atol=1e-6
    )


def test_a_stem_pickled_before_categories_still_runs():
    stem = Stem(3, 4)
    state = dict(stem.__dict__)
    state["_parameters"] = {
        name: value
        for name, value in stem._parameters.items()
        if name not in ("missing", "embedding")
    }
    state["_buffers"] = {name: stem._buffers[name] for name in ("center", "scale")}
    del state["cardinalities"]
    old = Stem.__new__(Stem)
    old.__setstate__(state)
    assert old.cardinalities == (0, 0, 0)
    assert torch.isfinite(old(torch.tensor([[1.0, np.nan, 2.0]]))).all()
