"""Sample submissions for tests/test_grading.py, derived from exercises/01_taylor.ipynb.

They fail, loop or tamper on purpose, so nbval (``make test`` collects notebooks under
tests/) must not run them as notebooks of their own.
"""

collect_ignore_glob = ["*.ipynb", "*/*.ipynb"]
