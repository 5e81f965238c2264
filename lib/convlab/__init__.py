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

# Exercise names per assignment, in notebook order: the contract's table.
EXERCISES = {
    "01_convolution": ["conv_output_size", "corr2d", "conv2d_loops", "im2col", "conv2d_im2col"],
    "02_transposed": [
        "conv_transpose_output_size",
        "conv_matrix",
        "conv_transpose2d_scatter",
        "insert_zeros",
        "conv_transpose2d_via_conv",
        "keras_deconv_output_length",
        "overlap_counts",
        "conv2d_backward",
    ],
    "03_atrous": [
        "effective_kernel_size",
        "dilate_kernel",
        "conv2d_dilated",
        "space_to_batch",
        "batch_to_space",
        "atrous_conv2d",
        "receptive_field",
        "causal_conv1d",
        "wavenet_receptive_field",
    ],
    "04_gridding": [
        "dependency_map",
        "coverage",
        "has_gridding",
        "shared_inputs",
        "effective_receptive_field",
    ],
    "05_hdc": ["hdc_max_distances", "satisfies_hdc", "hdc_search", "HDCBlock", "ASPP", "multigrid_rates"],
}

__all__ = [name for names in EXERCISES.values() for name in names] + [
    "conv2d",
    "conv_transpose2d",
    "same_padding",
    "tf_same_padding",
    "EXERCISES",
]
