"""convlab: the reference library of the convlab course.

Every graded exercise has a reference here with the contract's name and signature
(see COURSE.md); beneath them, ``conv2d`` and ``conv_transpose2d`` give full
``torch.nn.functional`` semantics from tensor primitives.
"""
from .atrous import (
    atrous_conv2d,
    batch_to_space,
    causal_conv1d,
    conv2d_dilated,
    dilate_kernel,
    space_to_batch,
    wavenet_receptive_field,
)
from .hdc import ASPP, HDCBlock, hdc_max_distances, hdc_search, multigrid_rates, satisfies_hdc
from .ops import conv2d, conv_transpose2d
from .receptive import (
    coverage,
    dependency_map,
    effective_receptive_field,
    has_gridding,
    receptive_field,
    shared_inputs,
)
from .shapes import (
    conv_output_size,
    conv_transpose_output_size,
    effective_kernel_size,
    keras_deconv_output_length,
    same_padding,
    tf_same_padding,
)
from .standard import conv2d_im2col, conv2d_loops, corr2d, im2col
from .transposed import (
    conv2d_backward,
    conv_matrix,
    conv_transpose2d_scatter,
    conv_transpose2d_via_conv,
    insert_zeros,
    overlap_counts,
)

__version__ = "0.1.0"

from .course import EXERCISES  # noqa: E402  (the course's one table)

__all__ = [name for names in EXERCISES.values() for name in names] + [
    "conv2d",
    "conv_transpose2d",
    "same_padding",
    "tf_same_padding",
    "EXERCISES",
]
