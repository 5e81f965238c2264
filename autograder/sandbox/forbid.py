"""Forbidden torch ops, refused at the dispatcher (runs inside the sandbox's child).

``install(families)`` registers, for every convolution / unfold op of the families an
exercise forbids, a kernel that raises ``ForbiddenOp`` on every backend key, in place of
torch's own. The dispatcher picks the kernel after every Python alias, every thread and
every dispatch-mode trick has resolved, and the C++ entry points go through the same
table, so no Python-level bypass reaches the original kernel. Where a family allows a
plain convolution (``conv_except_plain``: stride 1, no padding, no dilation;
``dilated_conv``: dilation 1), the generic ``convolution`` op computes it here from
tensor products instead of refusing.

The ``autograd`` family refuses automatic differentiation: forward-mode AD's dual-tensor
ops at the dispatcher like the rest, and the autograd engine's one Python entry point
(``run_backward``, which ``.backward()``, ``torch.autograd.grad`` and torch.func's grad and
vjp all reach) replaced in the engine type's own dict, which only a gc walk or ctypes,
both refused by the audit hook, could reach again. TorchScript calls the engine from C++:
see THREAT_MODEL.md.

The ``torch.library.Library`` objects are kept alive by a leaked reference and their
finalizers detached, so nothing reachable from Python can unregister them.

The op families are the visible checks' own table (``convlab.checks.families``, which
students read); this file is the grader's enforcement of the same rules.
"""
from __future__ import annotations

import warnings
import weakref

import torch

__all__ = ["ForbiddenOp", "install", "CONV_OP", "UNFOLD_OP"]

# The op families, one table with the visible checks: convlab/checks/families.py, copied
# into the runtime folder beside this file (launcher.stage_runtime).
from families import CONV_OP, DUAL_OP, UNFOLD_OP, family_of  # noqa: E402

_KEYS = ("CPU", "CUDA", "MkldnnCPU", "QuantizedCPU", "QuantizedCUDA", "SparseCPU", "SparseCUDA",
         "CompositeExplicitAutograd", "CompositeImplicitAutograd", "Autograd")
# The generic entry points that may compute an allowed plain convolution.
_GENERIC = {"aten::convolution", "aten::conv2d", "aten::_convolution"}


class ForbiddenOp(RuntimeError):
    """Raised by a refused kernel; its message starts with ``FORBIDDEN_PREFIX``."""


FORBIDDEN_PREFIX = "forbidden op: "


def _plain_conv2d(x, weight, bias, stride, padding, dilation, transposed, groups):
    """A 2-D convolution by kernel taps (stride, padding, dilation 1 only where allowed)."""
    sh, sw = stride
    ph, pw = padding
    if transposed or groups != 1 or x.dim() != 4 or tuple(dilation) != (1, 1):
        raise ForbiddenOp(FORBIDDEN_PREFIX + "a convolution other than a plain one")
    if ph or pw:
        x = torch.nn.functional.pad(x, (pw, pw, ph, ph))
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    if kh > h or kw > w:
        # torch's own check, which this kernel replaces: an answer crashes here as it does
        # in the notebook (where its catalogued mistake is named by this message), not
        # returns an empty tensor.
        raise RuntimeError(f"Calculated padded input size per channel: ({h} x {w}). Kernel size: "
                           f"({kh} x {kw}). Kernel size can't be greater than actual input size")
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    # Every window at once, no Python loop: the kernel may be as large as the input (a
    # weight gradient correlates x with grad_out), and the vectorization check counts the
    # lines run here too.
    x = x.contiguous()
    s_n, s_c, s_h, s_w = x.stride()
    windows = x.as_strided((n, c, ho, wo, kh, kw), (s_n, s_c, s_h * sh, s_w * sw, s_h, s_w))
    out = torch.einsum("nchwij,ocij->nohw", windows, weight)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


def _pairs(value, size=2):
    value = list(value) if isinstance(value, (list, tuple)) else [value]
    return tuple(value * size if len(value) == 1 else value)


def _allowed_plain(families, stride, padding, dilation, transposed) -> str | None:
    """None where the family allows this convolution, else why not."""
    if "conv" in families:
        return "a torch convolution"
    if transposed:
        return "a transposed convolution"
    if "conv_except_plain" in families:
        wrong = [f"{name}={list(value)}" for name, value, plain in
                 (("stride", stride, 1), ("padding", padding, 0), ("dilation", dilation, 1))
                 if set(value) != {plain}]
        return f"F.conv2d with {', '.join(wrong)}" if wrong else None
    if "dilated_conv" in families and set(dilation) != {1}:
        return f"a convolution with dilation={list(dilation)} (dilation > 1 is what you implement)"
    return None


def _generic_kernel(name: str, families: tuple):
    def kernel(*args, **kwargs):
        # convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
        # conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1)
        x, weight = args[0], args[1]
        bias = args[2] if len(args) > 2 else kwargs.get("bias")
        if name == "aten::conv2d":
            stride = _pairs(args[3] if len(args) > 3 else kwargs.get("stride", 1))
            padding = args[4] if len(args) > 4 else kwargs.get("padding", 0)
            dilation = _pairs(args[5] if len(args) > 5 else kwargs.get("dilation", 1))
            groups = args[6] if len(args) > 6 else kwargs.get("groups", 1)
            transposed = False
            if isinstance(padding, str):
                raise ForbiddenOp(FORBIDDEN_PREFIX + f"F.conv2d with padding={padding!r}")
            padding = _pairs(padding)
        else:
            stride, padding, dilation = _pairs(args[3]), _pairs(args[4]), _pairs(args[5])
            transposed, groups = bool(args[6]), int(args[8])
        why = _allowed_plain(families, stride, padding, dilation, transposed)
        if why is not None:
            raise ForbiddenOp(FORBIDDEN_PREFIX + why)
        unbatched = x.dim() == 3
        if unbatched:
            x = x.unsqueeze(0)
        out = _plain_conv2d(x, weight, bias, stride, padding, dilation, transposed, groups)
        return out.squeeze(0) if unbatched else out

    return kernel


def _refusing_kernel(text: str):
    def kernel(*args, **kwargs):
        raise ForbiddenOp(FORBIDDEN_PREFIX + text)

    return kernel


def install(families: tuple) -> int:
    """Refuse the forbidden ops of ``families`` from now on in this process; the number of
    ops replaced."""
    if not families:
        return 0
    refuse_conv = any(f in families for f in ("conv", "conv_except_plain", "dilated_conv"))
    refuse_unfold = "unfold" in families
    refuse_autograd = "autograd" in families
    libraries: dict[str, torch.library.Library] = {}
    count = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "overriding a previously registered kernel"
        for qualified in torch._C._dispatch_get_all_op_names():
            namespace, op = qualified.split("::", 1)
            base = op.split(".")[0]
            family = family_of(base)
            if family is None or (family == "conv" and not refuse_conv) or (family == "unfold" and not refuse_unfold):
                continue
            if family == "autograd" and not refuse_autograd:
                continue
            if family == "conv" and qualified.split(".")[0] in _GENERIC and "conv" not in families:
                kernel = _generic_kernel(qualified.split(".")[0], families)
            elif family == "unfold":
                kernel = _refusing_kernel(f"{base} (that is F.unfold / F.fold)")
            elif family == "autograd":
                kernel = _refusing_kernel(f"{AUTOGRAD_TEXT} (forward-mode AD: torch.func.jvp, jacfwd, "
                                          f"dual tensors; observed as torch's {base} op)")
            else:
                kernel = _refusing_kernel(f"{base} (a torch convolution op)")
            library = libraries.get(namespace)
            if library is None:
                library = libraries[namespace] = torch.library.Library(namespace, "IMPL")
            for key in _KEYS:
                try:
                    library.impl(op, kernel, key)
                    count += 1
                except Exception:  # no such kernel slot for this op: nothing to replace
                    pass
    _make_permanent(list(libraries.values()))
    if refuse_autograd:
        _refuse_backward_engine()
        count += 1
    return count


AUTOGRAD_TEXT = "torch.autograd"


def _refuse_backward_engine() -> None:
    """The engine's ``run_backward`` refuses from now on in this process."""
    import ctypes
    import gc

    engine_type = type(torch.autograd.Variable._execution_engine)

    def run_backward(*args, **kwargs):
        raise ForbiddenOp(FORBIDDEN_PREFIX + f"{AUTOGRAD_TEXT} (its backward pass: .backward(), "
                          "torch.autograd.grad, torch.func's grad or vjp)")

    # A builtin type's attributes are read-only from Python; its dict is not.
    gc.get_referents(engine_type.__dict__)[0]["run_backward"] = run_backward
    ctypes.pythonapi.PyType_Modified(ctypes.py_object(engine_type))


def _make_permanent(libraries: list) -> None:
    """Nothing reachable from Python may unregister these kernels: the finalizers that
    would (weakref.finalize's registry holds the C++ handles) are detached, and the
    objects leak on purpose, referenced from nowhere a student can look."""
    handles = {id(library.m) for library in libraries}
    for finalizer in list(weakref.finalize._registry):
        info = weakref.finalize._registry.get(finalizer)
        if info is not None and any(id(arg) in handles for arg in info.args):
            finalizer.detach()
    import ctypes

    for library in libraries:
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(library))
    libraries.clear()
