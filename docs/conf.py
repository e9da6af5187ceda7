"""Sphinx configuration of the sklearn_resboost documentation.

Build from the repository root with::

    sphinx-build -W -b html docs docs/_build/html

which also runs every example of ``examples/`` for the gallery.
"""

import inspect
import os
import sys
from pathlib import Path

# Document the checkout being built, even when another copy is installed.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The gallery's examples draw their figures off screen.
os.environ.setdefault("MPLBACKEND", "Agg")

# sphinx-gallery links the names the examples use even when it does not run
# them (-D plot_gallery=0); HalvingGridSearchCV only exists after this import.
from sklearn.experimental import enable_halving_search_cv  # noqa: F401

import sklearn_resboost

# -- Project -------------------------------------------------------------------

project = "sklearn_resboost"
author = "The sklearn_resboost developers"
copyright = f"2026, {author}"
release = sklearn_resboost.__version__
version = release

# -- General -------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

templates_path = ["_templates"]
# benchmark_results.rst and benchmark_tables_results.rst are written by
# benchmarks/run.py and benchmarks/tables.py, for benchmarks.rst to include.
exclude_patterns = [
    "_build",
    "README.md",
    "auto_examples/*.ipynb",
    "sg_execution_times.rst",
    "benchmark_results.rst",
    "benchmark_tables_results.rst",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
default_role = "literal"
pygments_style = "sphinx"
toc_object_entries_show_parents = "hide"

# -- API reference ---------------------------------------------------------------

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False


def _skip_foreign_member(app, what, name, obj, skip, options):
    """Keep the package's own API on its pages.

    Classes inherit many members from scikit-learn (``get_params``,
    ``set_params``, ``score``, metadata routing) and from ``torch.nn.Module``;
    those are documented by their projects, and the API page says which ones
    every estimator has.
    """
    if skip or what != "class":
        return skip
    target = inspect.unwrap(obj.fget if isinstance(obj, property) else obj)
    module = getattr(target, "__module__", None) or ""
    return not module.startswith("sklearn_resboost")


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_member)


# -- Example gallery -------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "doc_module": ("sklearn_resboost",),
    "backreferences_dir": "gen_modules/backreferences",
    "reference_url": {"sklearn_resboost": None},
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
    "show_memory": False,
    "image_scrapers": ("matplotlib",),
}

# -- HTML ----------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn_resboost {release}"
html_static_path = []
html_theme_options = {
    "logo": {"text": "sklearn_resboost"},
    "navbar_align": "left",
    "header_links_before_dropdown": 8,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
# Single pages have no section navigation to show.
single_pages = ("index", "installation", "quickstart", "benchmarks", "changelog", "citation")
html_sidebars = {page: [] for page in single_pages}
html_show_sourcelink = True
