"""The forbidden op families: one table for the notebooks' visible checks
(convlab.checks.guards) and the grader's sandbox (autograder/sandbox/forbid.py, which gets
a copy of this file in its runtime folder, as it gets adapters.py).

Only the standard library here: the sandbox's child imports it before anything else of
the course, and students read it (the rules are no secret; the hidden cases are).
"""
from __future__ import annotations

import re

__all__ = ["FAMILIES", "FAMILY_TEXT", "CONV_OP", "UNFOLD_OP", "DUAL_OP", "family_of"]

# An exercise forbids some of these (Exercise.forbidden); each says what it refuses.
FAMILY_TEXT = {
    "conv": "torch's convolution ops (F.conv*, torch.conv*, nn.Conv*, aten convolution)",
    "unfold": "F.unfold / F.fold (nn.Unfold / nn.Fold)",
    "conv_except_plain": "torch's convolution ops other than a plain F.conv2d (stride 1, no padding, no dilation)",
    "dilated_conv": "torch's convolution ops with dilation > 1",
    "autograd": "torch.autograd (.backward(), torch.autograd.grad, torch.func's grad, vjp and jvp)",
}
FAMILIES = tuple(FAMILY_TEXT)

# The aten ops of each family, by their base name (no overload, no namespace).
CONV_OP = re.compile(r"(^|_)(convolution|conv\d|conv_transpose|conv_tbc|conv_depthwise|cudnn_conv"
                     r"|mkldnn_conv|miopen_conv|slow_conv|thnn_conv|mps_conv)")
UNFOLD_OP = re.compile(r"^(im2col|col2im)")
# Forward-mode AD's own ops: the dual tensors that torch.func.jvp and jacfwd are made of.
DUAL_OP = re.compile(r"^_(make|unpack)_dual")


def family_of(base: str) -> str | None:
    """The family an aten op belongs to: "unfold", "autograd" (a dual-tensor op), "conv"
    (every convolution; which of them an exercise allows is its families' business), or
    None."""
    if UNFOLD_OP.match(base):
        return "unfold"
    if DUAL_OP.match(base):
        return "autograd"
    if CONV_OP.search(base):
        return "conv"
    return None
