"""Every invalid-argument path of the reference library raises ValueError with a message
that names what is wrong (the contract's rule), never a TypeError or a RuntimeError
from deep inside torch."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import convlab
from convlab.models import DilatedStack, UNet


def t(*shape, dtype=torch.float32):
    return torch.ones(*shape, dtype=dtype)


X, W, WT = t(1, 2, 5, 4), t(3, 2, 3, 3), t(2, 3, 3, 3)  # input, conv / transposed weights

CASES = {
    # ------------------------------------------------------------ shapes.py
    "conv_output_size: kernel larger than padded input": (
        lambda: convlab.conv_output_size(2, 5, padding=1), "larger than the padded input"),
    "conv_output_size: float size": (lambda: convlab.conv_output_size(5.0, 3), "must be an int"),
    "conv_output_size: bool stride": (lambda: convlab.conv_output_size(5, 3, True), "must be an int"),
    "conv_output_size: stride 0": (lambda: convlab.conv_output_size(5, 3, 0), "stride must be >= 1"),
    "conv_output_size: negative padding": (
        lambda: convlab.conv_output_size(5, 3, 1, -1), "padding must be >= 0"),
    "conv_output_size: size 0": (lambda: convlab.conv_output_size(0, 1), "input size n must be >= 1"),
    "conv_transpose_output_size: output_padding >= stride and dilation": (
        lambda: convlab.conv_transpose_output_size(4, 3, 2, 0, 2), "output_padding"),
    "conv_transpose_output_size: output_padding >= dilation, stride 1": (
        lambda: convlab.conv_transpose_output_size(4, 3, 1, 0, 1, 1), "output_padding"),
    "conv_transpose_output_size: padding crops everything": (
        lambda: convlab.conv_transpose_output_size(1, 1, padding=1), "crops the whole output"),
    "conv_transpose_output_size: dilation 0": (
        lambda: convlab.conv_transpose_output_size(4, 3, dilation=0), "dilation must be >= 1"),
    "effective_kernel_size: k 0": (lambda: convlab.effective_kernel_size(0, 1), "kernel size k"),
    "effective_kernel_size: dilation 0": (lambda: convlab.effective_kernel_size(3, 0), "dilation"),
    "keras: unknown padding mode": (
        lambda: convlab.keras_deconv_output_length(4, 3, "causal", 2), "unknown padding mode"),
    "keras: padding not a string": (
        lambda: convlab.keras_deconv_output_length(4, 3, 1, 2), "unknown padding mode"),
    "keras: stride 0": (lambda: convlab.keras_deconv_output_length(4, 3, "same", 0), "stride"),
    "keras: filter_size 0": (lambda: convlab.keras_deconv_output_length(4, 0, "same", 1), "filter_size"),
    "keras: negative output_padding": (
        lambda: convlab.keras_deconv_output_length(4, 3, "same", 2, -1), "output_padding"),
    "keras: negative length": (
        lambda: convlab.keras_deconv_output_length(-1, 3, "same", 2), "input_length"),
    "same_padding: k 0": (lambda: convlab.same_padding(0), "kernel size k"),
    "tf_same_padding: size 0": (lambda: convlab.tf_same_padding(0, 3), "input size n"),
    "tf_same_padding: stride 0": (lambda: convlab.tf_same_padding(5, 3, 0), "stride"),
    "tf_same_padding: dilation 0": (lambda: convlab.tf_same_padding(5, 3, 1, 0), "dilation"),
    # --------------------------------------------------------------- ops.py
    "conv2d: x not a tensor": (lambda: convlab.conv2d([[1.0]], W), "torch.Tensor"),
    "conv2d: x 2-D": (lambda: convlab.conv2d(t(5, 4), W), r"\(N, C, H, W\) or \(C, H, W\)"),
    "conv2d: weight 3-D": (lambda: convlab.conv2d(X, t(2, 3, 3)), "weight must be 4-D"),
    "conv2d: empty kernel": (lambda: convlab.conv2d(X, t(3, 2, 0, 3)), "at least 1x1"),
    "conv2d: channel mismatch": (lambda: convlab.conv2d(X, t(3, 4, 3, 3)), "channels"),
    "conv2d: dtype mismatch": (lambda: convlab.conv2d(X, t(3, 2, 3, 3, dtype=torch.float64)), "float64"),
    "conv2d: bias shape": (lambda: convlab.conv2d(X, W, t(2)), r"bias must have shape \(3,\)"),
    "conv2d: bias not a tensor": (lambda: convlab.conv2d(X, W, [0.0, 0.0, 0.0]), "bias must have shape"),
    "conv2d: bias dtype": (lambda: convlab.conv2d(X, W, t(3, dtype=torch.float64)), "bias is torch.float64"),
    "conv2d: kernel larger than padded input": (
        lambda: convlab.conv2d(X, t(3, 2, 6, 3)), "larger than the padded input"),
    "conv2d: dilated kernel larger than padded input": (
        lambda: convlab.conv2d(X, W, dilation=3), "larger than the padded input"),
    "conv2d: float stride": (lambda: convlab.conv2d(X, W, stride=1.5), "stride must be an int"),
    "conv2d: stride 0": (lambda: convlab.conv2d(X, W, stride=(1, 0)), "stride must be >= 1"),
    "conv2d: negative padding": (lambda: convlab.conv2d(X, W, padding=-1), "padding must be >= 0"),
    "conv2d: padding triple": (lambda: convlab.conv2d(X, W, padding=(1, 1, 1)), "pair of ints"),
    "conv2d: unknown padding mode": (lambda: convlab.conv2d(X, W, padding="full"), "unknown padding mode"),
    "conv2d: same with stride 2": (
        lambda: convlab.conv2d(X, W, stride=2, padding="same"), "only supported with stride 1"),
    "conv2d: dilation 0": (lambda: convlab.conv2d(X, W, dilation=0), "dilation must be >= 1"),
    "conv_transpose2d: output_padding >= stride and dilation": (
        lambda: convlab.conv_transpose2d(X, WT, stride=2, output_padding=2), "output_padding"),
    "conv_transpose2d: output_padding pair, width too big": (
        lambda: convlab.conv_transpose2d(X, WT, stride=(3, 2), output_padding=(2, 2)),
        r"output_padding .* \(width\)"),
    "conv_transpose2d: padding crops everything": (
        lambda: convlab.conv_transpose2d(t(1, 2, 1, 1), t(2, 3, 1, 1), padding=1), "crops the whole output"),
    "conv_transpose2d: channel mismatch": (lambda: convlab.conv_transpose2d(X, W), "channels"),
    "conv_transpose2d: bias shape": (lambda: convlab.conv_transpose2d(X, WT, t(2)), "bias must have shape"),
    "conv_transpose2d: negative padding": (
        lambda: convlab.conv_transpose2d(X, WT, padding=-1), "padding must be >= 0"),
    "conv_transpose2d: float stride": (lambda: convlab.conv_transpose2d(X, WT, stride=2.0), "must be an int"),
    # ----------------------------------------------------------- standard.py
    "corr2d: not tensors": (lambda: convlab.corr2d([[1.0]], t(1, 1)), "torch.Tensors"),
    "corr2d: 3-D input": (lambda: convlab.corr2d(t(1, 4, 4), t(2, 2)), "must be 2-D"),
    "corr2d: kernel larger than input": (lambda: convlab.corr2d(t(3, 5), t(4, 2)), "larger than the input"),
    "conv2d_loops: kernel larger than padded input": (
        lambda: convlab.conv2d_loops(X, t(3, 2, 6, 3)), "larger than the padded input"),
    "conv2d_loops: channel mismatch": (lambda: convlab.conv2d_loops(X, t(3, 1, 3, 3)), "channels"),
    "conv2d_loops: bias shape": (lambda: convlab.conv2d_loops(X, W, t(4)), "bias must have shape"),
    "conv2d_loops: float stride": (lambda: convlab.conv2d_loops(X, W, stride=0.5), "must be an int"),
    "conv2d_loops: negative padding": (
        lambda: convlab.conv2d_loops(X, W, padding=(0, -2)), "padding must be >= 0"),
    "im2col: 3-D input": (lambda: convlab.im2col(t(2, 5, 4), 3), "4-D"),
    "im2col: kernel larger than padded input": (lambda: convlab.im2col(X, 6), "larger than the padded input"),
    "im2col: kernel_size 0": (lambda: convlab.im2col(X, 0), "kernel_size must be >= 1"),
    "im2col: stride 0": (lambda: convlab.im2col(X, 3, 0), "stride must be >= 1"),
    "im2col: negative padding": (lambda: convlab.im2col(X, 3, 1, -1), "padding must be >= 0"),
    "conv2d_im2col: kernel larger than padded input": (
        lambda: convlab.conv2d_im2col(X, t(3, 2, 2, 7), padding=1), "larger than the padded input"),
    "conv2d_im2col: channel mismatch": (lambda: convlab.conv2d_im2col(X, t(3, 3, 3, 3)), "channels"),
    "conv2d_im2col: bias shape": (lambda: convlab.conv2d_im2col(X, W, t(3, 1)), "bias must have shape"),
    # --------------------------------------------------------- transposed.py
    "conv_matrix: 3-D kernel": (lambda: convlab.conv_matrix(t(1, 2, 2), (4, 4)), "kernel must be a 2-D"),
    "conv_matrix: input_shape of 3": (lambda: convlab.conv_matrix(t(2, 2), (1, 4, 4)), "input_shape"),
    "conv_matrix: input_shape an int": (lambda: convlab.conv_matrix(t(2, 2), 4), "input_shape"),
    "conv_matrix: fractional input_shape": (
        lambda: convlab.conv_matrix(t(2, 2), (4.5, 4)), "input_shape must be an int"),
    "conv_matrix: kernel larger than input": (
        lambda: convlab.conv_matrix(t(3, 3), (2, 4)), "larger than the input"),
    "scatter: output_padding >= stride": (
        lambda: convlab.conv_transpose2d_scatter(X, WT, stride=2, output_padding=2), "output_padding"),
    "scatter: output_padding with stride 1": (
        lambda: convlab.conv_transpose2d_scatter(X, WT, output_padding=1), "output_padding"),
    "scatter: padding crops everything": (
        lambda: convlab.conv_transpose2d_scatter(t(1, 2, 1, 1), t(2, 3, 1, 1), padding=1), "crops"),
    "scatter: channel mismatch": (lambda: convlab.conv_transpose2d_scatter(X, W), "channels"),
    "scatter: bias shape": (lambda: convlab.conv_transpose2d_scatter(X, WT, t(2)), "bias must have shape"),
    "insert_zeros: 3-D input": (lambda: convlab.insert_zeros(t(2, 5, 4), 2), "4-D"),
    "insert_zeros: stride 0": (lambda: convlab.insert_zeros(X, 0), "stride must be >= 1"),
    "insert_zeros: float stride": (lambda: convlab.insert_zeros(X, 1.5), "must be an int"),
    "via_conv: output_padding >= stride": (
        lambda: convlab.conv_transpose2d_via_conv(X, WT, stride=(2, 3), output_padding=(2, 0)),
        "output_padding"),
    "via_conv: padding crops everything": (
        lambda: convlab.conv_transpose2d_via_conv(t(1, 2, 1, 1), t(2, 3, 1, 1), padding=1), "crops"),
    "via_conv: channel mismatch": (lambda: convlab.conv_transpose2d_via_conv(X, W), "channels"),
    "via_conv: bias shape": (lambda: convlab.conv_transpose2d_via_conv(X, WT, t(4)), "bias must have shape"),
    "overlap_counts: k 0": (lambda: convlab.overlap_counts(0, 2, 3), "kernel size k must be >= 1"),
    "overlap_counts: stride 0": (lambda: convlab.overlap_counts(3, 0, 3), "stride must be >= 1"),
    "overlap_counts: n 0": (lambda: convlab.overlap_counts(3, 2, 0), "input length n must be >= 1"),
    # ------------------------------------------------------------- atrous.py
    "dilate_kernel: 3-D weight": (lambda: convlab.dilate_kernel(t(2, 3, 3), 2), "4-D"),
    "dilate_kernel: dilation 0": (lambda: convlab.dilate_kernel(W, 0), "dilation must be >= 1"),
    "conv2d_dilated: dilated kernel larger than padded input": (
        lambda: convlab.conv2d_dilated(X, W, padding=1, dilation=4), "larger than the padded input"),
    "conv2d_dilated: dilation 0": (lambda: convlab.conv2d_dilated(X, W, dilation=0), "dilation"),
    "space_to_batch: H not divisible by rate": (
        lambda: convlab.space_to_batch(t(1, 1, 5, 4), 2), "divisible by rate"),
    "space_to_batch: W not divisible by rate": (
        lambda: convlab.space_to_batch(t(1, 1, 6, 4), 3), "divisible by rate"),
    "space_to_batch: rate 0": (lambda: convlab.space_to_batch(t(1, 1, 4, 4), 0), "rate must be >= 1"),
    "space_to_batch: float rate": (lambda: convlab.space_to_batch(t(1, 1, 4, 4), 2.0), "must be an int"),
    "space_to_batch: 3-D input": (lambda: convlab.space_to_batch(t(1, 4, 4), 2), "4-D"),
    "batch_to_space: batch not divisible by rate^2": (
        lambda: convlab.batch_to_space(t(3, 1, 2, 2), 2), r"divisible by rate\*rate"),
    "batch_to_space: rate 0": (lambda: convlab.batch_to_space(t(4, 1, 2, 2), 0), "rate must be >= 1"),
    "atrous_conv2d: unknown padding": (
        lambda: convlab.atrous_conv2d(t(1, 4, 4, 2), t(3, 3, 2, 5), 1, "FULL"), "unknown padding mode"),
    "atrous_conv2d: rate 0": (lambda: convlab.atrous_conv2d(t(1, 4, 4, 2), t(3, 3, 2, 5), 0, "SAME"), "rate"),
    "atrous_conv2d: 3-D value": (lambda: convlab.atrous_conv2d(t(4, 4, 2), t(3, 3, 2, 5), 1, "SAME"), "value"),
    "atrous_conv2d: 3-D filters": (lambda: convlab.atrous_conv2d(t(1, 4, 4, 2), t(3, 3, 2), 1, "SAME"), "filters"),
    "atrous_conv2d: channel mismatch": (
        lambda: convlab.atrous_conv2d(t(1, 4, 4, 3), t(3, 3, 2, 5), 1, "SAME"), "channels"),
    "atrous_conv2d: VALID filter does not fit": (
        lambda: convlab.atrous_conv2d(t(1, 4, 4, 2), t(3, 3, 2, 5), 2, "VALID"), "does not fit"),
    "atrous_conv2d: dtype mismatch": (
        lambda: convlab.atrous_conv2d(t(1, 4, 4, 2), t(3, 3, 2, 5, dtype=torch.float64), 1, "SAME"),
        "float64"),
    # ---------------------------------------------------------- receptive.py
    "receptive_field: layer not a triple": (lambda: convlab.receptive_field([(3, 1)]), "layer 0"),
    "receptive_field: layer an int": (lambda: convlab.receptive_field([(3, 1, 1), 3]), "layer 1"),
    "receptive_field: layers an int": (lambda: convlab.receptive_field(3), "layers must be a list"),
    "receptive_field: stride 0": (
        lambda: convlab.receptive_field([(3, 1, 1), (3, 0, 1)]), "layer 1 stride must be >= 1"),
    "receptive_field: kernel 0": (lambda: convlab.receptive_field([(0, 1, 1)]), "layer 0 kernel_size"),
    "receptive_field: dilation 0": (lambda: convlab.receptive_field([(3, 1, 0)]), "layer 0 dilation"),
    "dependency_map: empty rates": (lambda: convlab.dependency_map([]), "rates must not be empty"),
    "dependency_map: rates an int": (lambda: convlab.dependency_map(2), "rates must be a sequence"),
    "dependency_map: rate 0": (lambda: convlab.dependency_map([1, 0]), "rate must be >= 1"),
    "dependency_map: kernel_size 0": (lambda: convlab.dependency_map([1], 0), "kernel_size must be >= 1"),
    "coverage: empty rates": (lambda: convlab.coverage([]), "rates must not be empty"),
    "has_gridding: float rate": (lambda: convlab.has_gridding([1, 2.5]), "rate must be an int"),
    "shared_inputs: float offset": (lambda: convlab.shared_inputs([1, 2], offset=1.0), "offset must be an int"),
    "shared_inputs: empty rates": (lambda: convlab.shared_inputs([]), "rates must not be empty"),
    "effective_receptive_field: input_shape (H, W)": (
        lambda: convlab.effective_receptive_field(torch.nn.Identity(), (5, 5)), r"\(C, H, W\)"),
    "effective_receptive_field: zero size": (
        lambda: convlab.effective_receptive_field(torch.nn.Identity(), (1, 0, 5)), "input_shape must be >= 1"),
    "effective_receptive_field: model output not 4-D": (
        lambda: convlab.effective_receptive_field(torch.nn.Flatten(), (1, 5, 5)), r"\(N, C, H, W\)"),
    "effective_receptive_field: output ignores the input": (
        lambda: convlab.effective_receptive_field(_Constant(), (1, 5, 5)), "does not depend on the input"),
    "effective_receptive_field: zero gradient": (
        lambda: convlab.effective_receptive_field(_TimesZero(), (1, 5, 5)), "does not depend on the input"),
    # ---------------------------------------------------------------- hdc.py
    "hdc_max_distances: empty rates": (lambda: convlab.hdc_max_distances([]), "rates must not be empty"),
    "hdc_max_distances: rate 0": (lambda: convlab.hdc_max_distances([0, 1]), "rate must be >= 1"),
    "satisfies_hdc: one rate": (lambda: convlab.satisfies_hdc([2]), "at least 2 rates"),
    "satisfies_hdc: no rates": (lambda: convlab.satisfies_hdc([]), "rates must not be empty"),
    "satisfies_hdc: rates an int": (lambda: convlab.satisfies_hdc(3), "rates must be a sequence"),
    "satisfies_hdc: kernel_size 0": (lambda: convlab.satisfies_hdc([1, 2], 0), "kernel_size must be >= 1"),
    "hdc_search: one layer": (lambda: convlab.hdc_search(1), "num_layers must be >= 2"),
    "hdc_search: max_rate 0": (lambda: convlab.hdc_search(2, 3, 0), "max_rate must be >= 1"),
    "hdc_search: kernel_size 0": (lambda: convlab.hdc_search(2, 0), "kernel_size must be >= 1"),
    "HDCBlock: channels 0": (lambda: convlab.HDCBlock(0, [1, 2]), "channels must be >= 1"),
    "HDCBlock: empty rates": (lambda: convlab.HDCBlock(4, []), "rates must not be empty"),
    "HDCBlock: rates an int": (lambda: convlab.HDCBlock(4, 2), "rates must be a sequence"),
    "HDCBlock: kernel_size 0": (lambda: convlab.HDCBlock(4, [1], 0), "kernel_size must be >= 1"),
    "conv2d_backward: grad_out not conv2d's output shape": (
        lambda: convlab.conv2d_backward(X, W, t(1, 3, 3, 3)), "conv2d's output shape"),
    "conv2d_backward: x not 4-D": (lambda: convlab.conv2d_backward(X[0], W, t(1, 3, 3, 2)), "4-D"),
    "conv2d_backward: kernel larger than the padded input": (
        lambda: convlab.conv2d_backward(t(1, 2, 2, 2), W, t(1, 3, 1, 1)), "larger than the padded input"),
    "conv2d_backward: channels differ": (
        lambda: convlab.conv2d_backward(t(1, 3, 5, 4), W, t(1, 3, 3, 2)), "channels"),
    "causal_conv1d: x not 3-D": (lambda: convlab.causal_conv1d(X, W[:, :, 0]), "3-D"),
    "causal_conv1d: weight not 3-D": (lambda: convlab.causal_conv1d(X[:, :, 0], W), "3-D"),
    "causal_conv1d: channels differ": (lambda: convlab.causal_conv1d(t(1, 3, 5), W[:, :, 0]), "channels"),
    "causal_conv1d: dilation 0": (lambda: convlab.causal_conv1d(X[:, :, 0], W[:, :, 0], dilation=0), "dilation"),
    "causal_conv1d: bias of the wrong size": (
        lambda: convlab.causal_conv1d(X[:, :, 0], W[:, :, 0], t(2)), "bias must have shape"),
    "wavenet_receptive_field: kernel_size 0": (
        lambda: convlab.wavenet_receptive_field(0, [1, 2]), "kernel_size must be >= 1"),
    "wavenet_receptive_field: no rates": (lambda: convlab.wavenet_receptive_field(2, []), "rates must not be empty"),
    "wavenet_receptive_field: rate 0": (lambda: convlab.wavenet_receptive_field(2, [1, 0]), "rate must be >= 1"),
    "wavenet_receptive_field: stacks 0": (lambda: convlab.wavenet_receptive_field(2, [1], 0), "stacks must be >= 1"),
    "multigrid_rates: output stride 32": (lambda: convlab.multigrid_rates(32), "output_stride must be 8 or 16"),
    "multigrid_rates: output stride 4": (lambda: convlab.multigrid_rates(4), "output_stride must be 8 or 16"),
    "multigrid_rates: block 2": (lambda: convlab.multigrid_rates(16, block=2), "block must be >= 3"),
    "multigrid_rates: no unit rates": (lambda: convlab.multigrid_rates(16, ()), "rates must not be empty"),
    "multigrid_rates: unit rate 0": (lambda: convlab.multigrid_rates(16, (1, 0)), "rate must be >= 1"),
    "ASPP: in_channels 0": (lambda: convlab.ASPP(0, 4), "in_channels must be >= 1"),
    "ASPP: out_channels 0": (lambda: convlab.ASPP(3, 0), "out_channels must be >= 1"),
    "ASPP: no rates": (lambda: convlab.ASPP(3, 4, ()), "rates must not be empty"),
    "ASPP: rate 0": (lambda: convlab.ASPP(3, 4, (6, 0)), "rate must be >= 1"),
    # ------------------------------------------------------------- models.py
    "DilatedStack: empty rates": (lambda: DilatedStack([]), "rates must not be empty"),
    "UNet: H not divisible by 8": (lambda: UNet(width=2)(t(1, 1, 12, 16)), "divisible by 8"),
    "UNet: width 0": (lambda: UNet(width=0), "width must be >= 1"),
}


class _Constant(torch.nn.Module):
    def forward(self, x):
        return torch.zeros_like(x)  # not connected to x at all


class _TimesZero(torch.nn.Module):
    def forward(self, x):
        return x * 0.0  # connected, but the gradient is zero


@pytest.mark.parametrize("name", list(CASES))
def test_invalid_argument_raises_value_error(name):
    call, match = CASES[name]
    with pytest.raises(ValueError, match=match):
        call()


def test_numpy_integers_are_accepted_as_ints():
    # Students index with numpy often; an np.int64 stride is an int, not an error.
    assert convlab.conv_output_size(np.int64(7), np.int64(3), np.int64(2)) == 3
    assert convlab.conv2d(X, W, stride=np.int64(2)).shape == (1, 3, 2, 1)


def test_every_public_function_has_an_error_case():
    """New public names must come with their invalid-argument cases here."""
    exempt = {"EXERCISES"}
    covered = {name.split(":")[0].strip() for name in CASES}
    aliases = {"scatter": "conv_transpose2d_scatter", "via_conv": "conv_transpose2d_via_conv",
               "keras": "keras_deconv_output_length"}
    covered = {aliases.get(name, name) for name in covered}
    missing = set(convlab.__all__) - exempt - covered
    assert not missing, f"no ValueError case for {sorted(missing)}"
