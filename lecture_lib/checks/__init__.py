"""Exercise checks: ``from lecture_lib import checks`` then ``checks.<topic>.check_<task>(fn)``.

Each lecture's checks live in their own module (``checks.taylor``,
``checks.gradient_descent``, ...), imported on first use. Importing this package
inside Jupyter makes a failed check show its friendly message without a traceback.
"""

import importlib

from lecture_lib.checks.core import CheckFailed, check_cases, install_notebook_handler

install_notebook_handler()

__all__ = ["CheckFailed", "check_cases", "install_notebook_handler"]


def __getattr__(topic: str):
    if topic.startswith("_"):
        raise AttributeError(topic)
    module = f"lecture_lib.checks.{topic}"
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name != module:
            raise
        raise AttributeError(f"lecture_lib.checks has no checks for {topic!r}") from None
