"""Figures the notebooks show, all drawn with matplotlib from the library's own ops.

* ``arithmetic``   conv-arithmetic grids and animations, direct and transposed
* ``convolution``  figures for 01_convolution
* ``transposed``   figures for 02_transposed (checkerboard artifacts, ...)
* ``atrous``       figures for 03_atrous (holes, phases, the seed example, U-Net fields)
* ``gridding``     figures for 04_gridding (dependency maps, phases, ERFs)
* ``hdc``          figures for 05_hdc (the M recursion, rule vs holes, the experiment)
"""
from .arithmetic import *  # noqa: F401,F403
from .convolution import *  # noqa: F401,F403
from .transposed import *  # noqa: F401,F403
from .atrous import *  # noqa: F401,F403
from . import atrous
from .gridding import *  # noqa: F401,F403
from .hdc import *  # noqa: F401,F403
from . import hdc
from . import gridding
from . import arithmetic, convolution, transposed

__all__ = arithmetic.__all__ + convolution.__all__ + transposed.__all__ + atrous.__all__ + gridding.__all__ + hdc.__all__
