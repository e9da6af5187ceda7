"""Fuzzing the safe file format: damaged or edited files are refused, and nothing runs.

Three kinds of damage: truncation, flipped bytes, and edited JSON (fields
swapped, or replaced by values of other types). Edits are tried both as they
are (the SHA-256 digest then catches them) and re-signed with a recomputed
digest, as someone who knows the format would do: the digest is no signature,
so a re-signed file may change numbers, but every edit that changes what a
value *is* must still be refused, and no code from a file may ever run.
"""

import builtins
import copy
import importlib
import itertools
import json
import pickle
import warnings
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import safetensors.numpy
import torch
from _params import TINY_BOOST, TINY_E2E
from sklearn.base import is_classifier
from sklearn.datasets import load_iris, make_regression

from sklearn_resboost import (
    BoostResNetClassifier,
    BoostResNetRegressor,
    ResNetClassifier,
    ResNetRegressor,
    _persistence,
    load,
)

REFUSED = "is not a valid sklearn_resboost model file"


def _iris():
    X, y = load_iris(return_X_y=True)
    return X, np.array(["setosa", "versicolor", "virginica"])[y]


def _regression():
    X, y = make_regression(n_samples=60, n_features=4, random_state=0)
    return X, np.column_stack([y, -y])


MODELS = {
    "BoostResNetClassifier": (lambda: BoostResNetClassifier(**TINY_BOOST), _iris),
    "BoostResNetRegressor": (lambda: BoostResNetRegressor(**TINY_BOOST, loss="huber"), _regression),
    "ResNetClassifier": (lambda: ResNetClassifier(**TINY_E2E), _iris),
    "ResNetRegressor": (lambda: ResNetRegressor(**TINY_E2E), _regression),
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """``{name: (path, X)}`` of a saved fitted model of every estimator."""
    folder = tmp_path_factory.mktemp("fuzz")
    files = {}
    for name, (make, data) in MODELS.items():
        X, y = data()
        path = folder / f"{name}.safetensors"
        make().fit(X, y).save(path)
        files[name] = (path, X)
    return files


def _read(path):
    data = Path(path).read_bytes()
    n = int.from_bytes(data[:8], "little")
    metadata = json.loads(data[8 : 8 + n])["__metadata__"]
    return json.loads(metadata["sklearn_resboost"]), safetensors.numpy.load(data)


def _write(path, document, tensors, sign):
    text = json.dumps(document, sort_keys=True)
    digest = _persistence._digest(text, tensors) if sign else "0" * 64
    metadata = {"sklearn_resboost": text, "sklearn_resboost.sha256": digest}
    Path(path).write_bytes(safetensors.numpy.save(tensors, metadata=metadata))


class _NothingRuns:
    """Fails the test if loading unpickles, evaluates, compiles or imports anything."""

    def __init__(self):
        self.calls = []

    def __enter__(self):
        self._stack = ExitStack()
        for target, name in [
            (pickle, "loads"),
            (pickle, "load"),
            (pickle, "Unpickler"),
            (torch, "load"),
            (builtins, "eval"),
            (builtins, "exec"),
            (builtins, "compile"),
            (importlib, "import_module"),
        ]:
            self._stack.enter_context(
                mock.patch.object(
                    target, name, side_effect=lambda *a, name=name, **k: self.calls.append(name)
                )
            )
        return self

    def __exit__(self, *exc):
        self._stack.close()
        assert self.calls == [], f"loading ran code: {self.calls}"


def _use(est, X):
    """The predictions of a loaded estimator: they must work and give finite numbers."""
    labels = est.predict(X)
    assert len(labels) == len(X)
    assert est.score(X, labels) == pytest.approx(1.0)
    scores = est.decision_function(X) if is_classifier(est) else labels
    assert np.all(np.isfinite(scores))
    if hasattr(est, "hypothesis_ensemble"):
        np.testing.assert_allclose(est.hypothesis_ensemble(X).sum(axis=0), scores, atol=1e-6)


def _load_or_refuse(path, X):
    """``"refused"`` when load raises the format's ValueError, else ``"loaded"`` (and used)."""
    with _NothingRuns(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            est = load(path)
        except ValueError as exc:
            assert REFUSED in str(exc) or "newer sklearn_resboost" in str(exc), str(exc)
            return "refused"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _use(est, X)
    return "loaded"


def test_the_guard_catches_code_that_runs(tmp_path):
    with pytest.raises(AssertionError, match="loading ran code"):
        with _NothingRuns():
            pickle.loads(b"")


@pytest.mark.parametrize("name", MODELS)
def test_truncated_anywhere(saved, tmp_path, name):
    path, X = saved[name]
    data = path.read_bytes()
    positions = sorted({*range(17), *range(0, len(data), max(1, len(data) // 64)), len(data) - 1})
    damaged = tmp_path / "truncated.safetensors"
    for keep in positions:
        damaged.write_bytes(data[:keep])
        assert _load_or_refuse(damaged, X) == "refused", keep


@pytest.mark.parametrize("name", MODELS)
def test_flipped_bytes_anywhere(saved, tmp_path, name):
    path, X = saved[name]
    data = path.read_bytes()
    rng = np.random.RandomState(0)
    positions = sorted({*range(8), *rng.randint(8, len(data), size=60).tolist()})
    damaged = tmp_path / "flipped.safetensors"
    for position in positions:
        for mask in (0x01, 0xFF):
            flipped = bytearray(data)
            flipped[position] ^= mask
            damaged.write_bytes(bytes(flipped))
            assert _load_or_refuse(damaged, X) == "refused", (position, mask)


# JSON values of every kind, to put where another kind is expected.
WRONG_VALUES = [
    None,
    -1,
    "x",
    [],
    {},
    {"__type__": "ndarray", "tensor": "module.stem.center"},
    {"__type__": "pickle", "data": "gASVAA=="},
    {"__type__": "loss", "class": "SquaredError", "state": {"predict": 1, "n_outputs": 1}},
]
# Swaps of fields (and of tensors of other shapes) tried per file, drawn at random.
N_SWAPS = 40


def _edits(document, tensors, n_swaps=N_SWAPS):
    """The edits of the fuzz: (label, document, tensors).

    Every field of the attributes, the network description and the document
    replaced by every wrong value (parameters by a foreign type only: their
    valid values are their constraints' business), names that shadow the
    class added, and a fixed random draw of field and tensor swaps.
    """
    for section, values in (
        ("attributes", WRONG_VALUES),
        ("network", WRONG_VALUES),
        ("params", WRONG_VALUES[-3:]),
    ):
        for field in sorted(document[section]):
            for value in values:
                edited = copy.deepcopy(document)
                edited[section][field] = copy.deepcopy(value)
                yield f"{section}.{field} = {value!r}", edited, tensors
    for field in sorted(document):
        for value in WRONG_VALUES:
            edited = copy.deepcopy(document)
            edited[field] = copy.deepcopy(value)
            yield f"{field} = {value!r}", edited, tensors
    for name, value in [("_raw_scores", 1), ("_parameter_constraints", {})]:
        edited = copy.deepcopy(document)
        edited["attributes"][name] = value
        yield f"attributes.{name} added", edited, tensors
    swaps = [
        (section, a, b)
        for section in ("attributes", "params")
        for a, b in itertools.combinations(sorted(document[section]), 2)
    ] + [
        ("tensors", a, b)
        for a, b in itertools.combinations(sorted(tensors), 2)
        if tensors[a].shape != tensors[b].shape
    ]
    rng = np.random.RandomState(0)
    for i in sorted(rng.choice(len(swaps), size=min(n_swaps, len(swaps)), replace=False)):
        section, a, b = swaps[i]
        if section == "tensors":
            swapped = dict(tensors, **{a: tensors[b], b: tensors[a]})
            yield f"swap tensors {a} <-> {b}", document, swapped
        else:
            edited = copy.deepcopy(document)
            edited[section][a], edited[section][b] = edited[section][b], edited[section][a]
            yield f"swap {section}.{a} <-> {b}", edited, tensors


@pytest.mark.parametrize("name", ["BoostResNetClassifier"])
def test_edits_without_a_new_digest_are_refused(saved, tmp_path, name):
    path, X = saved[name]
    edited = tmp_path / "edited.safetensors"
    for label, document, tensors in itertools.islice(_edits(*_read(path)), 0, None, 4):
        _write(edited, document, tensors, sign=False)
        assert _load_or_refuse(edited, X) == "refused", label


def _kind(value):
    return value.get("__type__", "dict") if isinstance(value, dict) else type(value).__name__


def _must_be_refused(label, original, document):
    """Whether an edit changes what a value is, rather than which number it holds.

    Tensors of other shapes and added names always change it; a replaced
    field does when its JSON kind changes (a number for an array, a loss for a
    list...). Parameters are left to their constraints (any valid value may be
    loaded), and ``versions`` is informational.
    """
    if label.startswith("swap tensors") or label.endswith(" added"):
        return True
    if " = " not in label:
        return False
    path = label.split(" = ", 1)[0].split(".")
    if path[0] in ("params", "versions") or path == ["params"]:
        return False
    before, after = original, document
    for key in path:
        before, after = before[key], after[key]
    return _kind(before) != _kind(after) or (isinstance(after, dict) and _kind(after) != "scalar")


@pytest.mark.parametrize("name", MODELS)
def test_resigned_edits_are_refused_or_only_change_numbers(saved, tmp_path, name):
    path, X = saved[name]
    original, _ = _read(path)
    edited = tmp_path / "edited.safetensors"
    outcomes = {"refused": [], "loaded": []}
    for label, document, tensors in _edits(*_read(path)):
        _write(edited, document, tensors, sign=True)
        outcome = _load_or_refuse(edited, X)
        outcomes[outcome].append(label)
        if _must_be_refused(label, original, document):
            assert outcome == "refused", label
    # Loaded edits are swaps of values of one kind: numbers or valid parameters.
    assert outcomes["refused"] and outcomes["loaded"]
    for label in outcomes["loaded"]:
        assert label.startswith(("swap attributes.", "swap params.")) or " = " in label, label


def test_former_holes_are_refused(saved, tmp_path):
    """Edits that once loaded and broke a later prediction, each refused now."""
    path, X = saved["BoostResNetClassifier"]
    document, tensors = _read(path)
    edits = {
        "classes_ that are scores": lambda d: d["attributes"].update(
            classes_=d["attributes"]["train_score_"]
        ),
        "params that are a number": lambda d: d.update(
            params={"__type__": "scalar", "dtype": "<f8", "value": 1.0}
        ),
        "an attribute shadowing a method": lambda d: d["attributes"].update(_raw_scores=1),
        "a loss whose state shadows a method": lambda d: d["attributes"]["_loss"]["state"].update(
            proba="x"
        ),
        "width that does not fit the network": lambda d: d["params"].update(width=16),
    }
    reg_path, X_reg = saved["BoostResNetRegressor"]
    reg_document, reg_tensors = _read(reg_path)
    edited = tmp_path / "edited.safetensors"
    for label, edit in edits.items():
        changed = copy.deepcopy(document)
        edit(changed)
        _write(edited, changed, tensors, sign=True)
        assert _load_or_refuse(edited, X) == "refused", label
    changed = copy.deepcopy(reg_document)
    changed["attributes"]["_y_ndim"] = changed["attributes"]["train_score_"]
    _write(edited, changed, reg_tensors, sign=True)
    assert _load_or_refuse(edited, X_reg) == "refused"
