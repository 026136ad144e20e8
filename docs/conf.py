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
# References are checked (sphinx-build -n, as CI builds): the package's must resolve. Those into torch, numpy, SB3,
# sb3-contrib, gymnasium and the standard library, which type hints and docstrings name, are left unlinked (the build
# reads no other project's inventory, so it needs no network).
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(torch|numpy|stable_baselines3|sb3_contrib|gymnasium|collections\.abc)(\..*)?"),
    (r"py:class", r"(VecEnv|SACPolicy|TQCPolicy|CrossQPolicy|ContinuousCritic)"),
]

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
# Table cells and long code lines wrap or scroll visibly instead of overflowing the theme's column
html_static_path = ["_static"]
html_css_files = ["custom.css"]
