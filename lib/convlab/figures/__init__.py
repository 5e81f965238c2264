"""Figures the notebooks show, all drawn with matplotlib from the library's own ops.

* ``arithmetic``   conv-arithmetic grids and animations, direct and transposed
* ``convolution``  figures for 01_convolution
* ``transposed``   figures for 02_transposed (checkerboard artifacts, ...)
"""
from .arithmetic import *  # noqa: F401,F403
from .convolution import *  # noqa: F401,F403
from .transposed import *  # noqa: F401,F403
from . import arithmetic, convolution, transposed

__all__ = arithmetic.__all__ + convolution.__all__ + transposed.__all__
