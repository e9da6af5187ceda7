"""The documentation: every public name is documented with examples, and the pages' code runs."""

import doctest
import inspect
import re
from pathlib import Path

import pytest

import sklearn_resboost
from sklearn_resboost import inspection

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

PUBLIC = [
    (module, name)
    for module in (sklearn_resboost, inspection)
    for name in module.__all__
    if name != "__version__" and not inspect.ismodule(getattr(module, name))
]


def _public_ids():
    return [f"{module.__name__}.{name}" for module, name in PUBLIC]


def _sections(obj):
    """The numpydoc sections of ``obj``'s docstring: ``{title: [lines]}``."""
    lines = (inspect.getdoc(obj) or "").splitlines()
    sections, title = {"Summary": []}, "Summary"
    for i, line in enumerate(lines):
        underline = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and re.fullmatch(r"-{3,}", underline) and len(underline) == len(line):
            title = line.strip()
            sections[title] = []
        elif not re.fullmatch(r"-{3,}", line):
            sections[title].append(line)
    return sections


@pytest.mark.parametrize("module, name", PUBLIC, ids=_public_ids())
def test_public_name_has_numpydoc_docstring_with_examples(module, name):
    obj = getattr(module, name)
    sections = _sections(obj)
    assert any(line.strip() for line in sections["Summary"]), f"{name} has no summary line"
    assert any(line.lstrip().startswith(">>>") for line in sections.get("Examples", [])), (
        f"{name} has no Examples section with code"
    )
    if inspect.isclass(obj) and issubclass(obj, Warning):
        return
    documented = set()
    for line in sections.get("Parameters", []):
        match = re.match(r"^(\*{0,2}\w+(?:, \*{0,2}\w+)*)(?: :|$)", line)
        if match:
            documented.update(part.lstrip("*") for part in match.group(1).split(", "))
    expected = {
        p.name
        for p in inspect.signature(obj).parameters.values()
        if p.name != "self" and p.kind != p.VAR_POSITIONAL
    }
    assert expected <= documented, f"{name} does not document {sorted(expected - documented)}"


def test_api_page_lists_every_public_name():
    api = (DOCS / "api.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"^   (\w+)$", api, flags=re.MULTILINE))
    assert {name for _, name in PUBLIC} == listed


RST_WITH_CODE = sorted(
    path.name for path in DOCS.glob("*.rst") if ">>>" in path.read_text(encoding="utf-8")
)


@pytest.mark.parametrize("page", RST_WITH_CODE)
def test_page_code_runs(page):
    result = doctest.testfile(
        str(DOCS / page),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        raise_on_error=False,
        verbose=False,
    )
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} example(s) of docs/{page} failed; see above"
