"""Sphinx configuration of the sb3-iterative documentation (``sphinx-build -W -b html docs docs/_build/html``)."""

import sb3_iterative

project = "sb3-iterative"
author = "sb3-iterative contributors"
copyright = "2026, sb3-iterative contributors"
version = release = sb3_iterative.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "myst_parser",
]
source_suffix = {".md": "markdown"}
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
exclude_patterns = ["_build"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_inherit_docstrings = False


def escape_docstring(app, what, name, obj, options, lines):
    """The docstrings write |A| (the action dimension) and [B, *shape] as plain text: escape ``|`` and
    ``*`` outside inline literals, so that reStructuredText does not read substitutions or emphasis."""
    for index, line in enumerate(lines):
        pieces = line.split("``")
        for position in range(0, len(pieces), 2):  # outside ``literals``
            pieces[position] = pieces[position].replace("|", r"\|").replace("*", r"\*")
        lines[index] = "``".join(pieces)


def setup(app):
    app.connect("autodoc-process-docstring", escape_docstring)


html_theme = "sphinx_rtd_theme"
html_title = "sb3-iterative"
