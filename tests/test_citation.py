"""CITATION.cff is valid Citation File Format 1.2.0 and the docs cite the same works."""

import copy
import datetime
import json
from pathlib import Path

import pytest

import sklearn_resboost

jsonschema = pytest.importorskip("jsonschema")
yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = Path(__file__).resolve().parent / "data" / "cff-1.2.0.schema.json"


def _dates_as_strings(value):
    # The CFF schema asks tools to validate YAML dates as strings.
    if isinstance(value, dict):
        return {key: _dates_as_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_dates_as_strings(item) for item in value]
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


@pytest.fixture(scope="module")
def citation():
    with open(ROOT / "CITATION.cff", encoding="utf-8") as f:
        return _dates_as_strings(yaml.safe_load(f))


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_citation_file_is_valid(citation, validator):
    errors = sorted(validator.iter_errors(citation), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    assert citation["cff-version"] == "1.2.0"


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c.pop("title"),
        lambda c: c.update({"cff-version": "1.2"}),
        lambda c: c.update({"date-released": "2026-13-01"}),
        lambda c: c["references"][0].pop("type"),
        lambda c: c.update({"licence": "BSD-3-Clause"}),
    ],
    ids=["no-title", "bad-version", "bad-date", "reference-without-type", "unknown-key"],
)
def test_validator_rejects_broken_citations(citation, validator, change):
    broken = copy.deepcopy(citation)
    change(broken)
    assert not validator.is_valid(broken)


def test_citation_version_is_the_package_version(citation):
    assert str(citation["version"]) == sklearn_resboost.__version__


def test_docs_citation_page_cites_the_same_works(citation):
    page = " ".join((ROOT / "docs" / "citation.rst").read_text(encoding="utf-8").split())
    assert citation["title"] in page
    assert f"version = {{{citation['version']}}}" in page
    assert f"date = {{{citation['date-released']}}}" in page
    assert len(citation["references"]) == 2
    for reference in citation["references"]:
        assert reference["title"] in page
        assert reference["collection-title"] in page
        assert str(reference["year"]) in page
        for author in reference["authors"]:
            assert f"{author['family-names']}, {author['given-names']}" in page
        arxiv = reference["identifiers"][0]["value"].removeprefix("arXiv:")
        assert f"arXiv:{arxiv}" in page and f"eprint = {{{arxiv}}}" in page
