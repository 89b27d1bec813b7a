"""lecture_lib: the helper library of *Optimization for Deep Learning, executable lectures*.

Every optimizer and curvature tool of the course, written from its equation in JAX.
"""

from lecture_lib import data, nn, optim, problems, taylor, theory
from lecture_lib.problems import Problem
from lecture_lib.run import Trajectory, compare, run

__all__ = [
    "Problem",
    "Trajectory",
    "compare",
    "data",
    "nn",
    "optim",
    "problems",
    "run",
    "taylor",
    "theory",
]
