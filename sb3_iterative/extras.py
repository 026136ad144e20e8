"""The package's optional features and the extra that installs each (pyproject.toml's ``optional-dependencies``).

The core trains, acts, saves, loads and runs rl-zoo3; a feature beyond it imports its packages through
:func:`import_extra` where it is used, so that a missing one fails with the line that installs it.
"""

import importlib
from types import ModuleType


def import_extra(module: str, extra: str, feature: str) -> ModuleType:
    """``module`` imported, or an ImportError naming the ``pip install`` line of the ``extra`` that provides it.

    :param module: the module to import (``"zuko.transforms"``)
    :param extra: the extra of sb3-iterative that installs it (``"flow"``)
    :param feature: what needs it, as the user asked for it (``"actor='flow'"``)
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        package = module.partition(".")[0]
        raise ImportError(
            f'{feature} needs {package}, which is not installed: pip install "sb3-iterative[{extra}]"'
        ) from error
