"""Exercise checks: ``from lecture_lib import checks`` then ``checks.<topic>.check_<task>(fn)``.

Importing this package inside Jupyter makes a failed check show its friendly
message without a traceback.
"""

from lecture_lib.checks import gradient_descent, taylor
from lecture_lib.checks.core import CheckFailed, check_cases, install_notebook_handler

install_notebook_handler()

__all__ = ["CheckFailed", "check_cases", "gradient_descent", "install_notebook_handler", "taylor"]
