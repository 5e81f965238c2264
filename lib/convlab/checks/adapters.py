"""Adapters: how a case calls an exercise that is not a plain function of plain data.

An ``Exercise`` with ``adapter="name"`` is called as ``name(fn, *case.args, **case.kwargs)``
(``Exercise.call``), by the visible checks, by the grader for the reference and the named
mistakes, and inside the grading sandbox for the student's answer. The sandbox loads this
file by itself, without the ``convlab`` package, so:

* import nothing but the standard library, ``torch`` and ``numpy`` here;
* take only plain data (tensors, numbers, strings, lists, tuples, dicts of them) and
  build anything else (a model from its description, a module from the student's class)
  inside the adapter;
* return plain data too (tensors, numbers, lists), which the grader compares.

Nothing here may compute an exercise's answer: this file is given to students.
"""
from __future__ import annotations


# --- 04_gridding: effective_receptive_field(model, input_shape) ----------------------------

def erf_of_described_model(fn, layers, input_shape, weights=None, seed=0):
    """``fn(model, input_shape)`` for the model that ``layers`` describes.

    ``layers`` is a list, in order, of
      * ``(in_channels, out_channels, kernel_size, dilation, padding, stride)``: an
        ``nn.Conv2d`` with a bias;
      * ``"relu"``: ``nn.ReLU()``; ``"batchnorm"``: ``nn.BatchNorm2d`` over the channels
        of the conv before it; ``"flatten"``: ``nn.Flatten()`` (a model whose output is
        not (N, C, H, W)).
    The convs' parameters are drawn by PyTorch's default initialisation from
    ``torch.manual_seed(seed)`` (the caller's random state is left as it was), unless
    ``weights`` is given: a flat list ``[weight_1, bias_1, weight_2, bias_2, ...]``, one
    pair per conv, copied in; the model then has their dtype and device. The model is
    handed over as a fresh module is: in training mode.
    """
    import torch
    from torch import nn

    modules, channels, convs = [], None, []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for layer in layers:
            if layer == "relu":
                modules.append(nn.ReLU())
            elif layer == "batchnorm":
                modules.append(nn.BatchNorm2d(channels))
            elif layer == "flatten":
                modules.append(nn.Flatten())
            else:
                c_in, c_out, k, dilation, padding, stride = layer
                conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding, dilation=dilation)
                modules.append(conv)
                convs.append(conv)
                channels = c_out
    model = nn.Sequential(*modules)
    if weights is not None:
        if len(weights) != 2 * len(convs):
            raise TypeError(f"weights: expected {2 * len(convs)} tensors (a weight and a bias "
                            f"per conv), got {len(weights)}")
        model = model.to(dtype=weights[0].dtype, device=weights[0].device)
        with torch.no_grad():
            for i, conv in enumerate(convs):
                conv.weight.copy_(weights[2 * i])
                conv.bias.copy_(weights[2 * i + 1])
    return fn(model, input_shape)


# --- 05_hdc: HDCBlock(channels, rates, kernel_size=3), a class -------------------------------

def module_behaviour(cls, channels, rates, *args, x=None, seed=0, **kwargs):
    """What the module ``cls(channels, rates, *args, **kwargs)`` does, as plain data.

    The module is built exactly as the case calls the class (so a default argument is
    tested as a default), and must be an ``nn.Module``. Its weights are then set from
    ``seed`` in a way that does not depend on how the class names or nests its layers:

    * the ``nn.Conv2d`` layers, in the order ``module.modules()`` visits them (registration
      order), get weights drawn one after the other from ``torch.Generator().manual_seed(seed)``;
      a conv bias, if the layer has one, is set to 0 (a bias before BatchNorm changes
      nothing once the statistics are learned, so with or without one is the same block);
    * the ``nn.BatchNorm2d`` layers, in the same order, get their running mean and variance
      and, if affine, their weight and bias, from the same generator after the convs.

    With ``x=None`` (the cases that must raise ValueError) nothing is run and the result
    is only the description below. Otherwise ``x`` goes through the module in eval mode
    (running statistics) and then in training mode (batch statistics), under ``no_grad``.

    Returns ``[layers, eval_output, train_output]``: ``layers`` has one line per Conv2d,
    ``"Conv2d i: kernel (kh, kw), dilation (dh, dw), output (N, C, H, W)"``,
    the shape as seen in the eval-mode pass (``"not run"`` when it never ran). When the
    forward pass raises after some conv changed the spatial size (so the residual add
    cannot work), the two outputs are the text ``"forward raised <ExceptionType>"`` and the
    layers show where the size changed; any other exception is raised as it is.
    """
    import torch
    from torch import nn

    module = cls(channels, rates, *args, **kwargs)
    if not isinstance(module, nn.Module):
        raise TypeError(f"{getattr(cls, '__name__', cls)}(...) should build a torch.nn.Module, "
                        f"got {type(module).__name__}")
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    seen: dict[int, str] = {}
    shape_changed = []

    def describe(i, conv):
        kernel, dilation = tuple(conv.kernel_size), tuple(conv.dilation)
        return f"Conv2d {i}: kernel {kernel}, dilation {dilation}, {seen.get(i, 'not run')}"

    if x is None:
        return [[describe(i, conv) for i, conv in enumerate(convs)]]

    module = module.to(dtype=x.dtype, device=x.device)
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for conv in convs:
            fan_in = conv.weight[0].numel()
            w = torch.randn(conv.weight.shape, generator=gen, dtype=torch.float64) / fan_in ** 0.5
            conv.weight.copy_(w)
            if conv.bias is not None:
                conv.bias.zero_()
        for norm in norms:
            size = (norm.num_features,)
            stats = [0.3 * torch.randn(size, generator=gen, dtype=torch.float64),
                     0.5 + torch.rand(size, generator=gen, dtype=torch.float64),
                     0.5 + torch.rand(size, generator=gen, dtype=torch.float64),
                     0.2 * torch.randn(size, generator=gen, dtype=torch.float64)]
            if norm.running_mean is not None:
                norm.running_mean.copy_(stats[0])
                norm.running_var.copy_(stats[1])
            if norm.affine:
                norm.weight.copy_(stats[2])
                norm.bias.copy_(stats[3])

    def hook(index):
        def record(_, inputs, output):
            if index not in seen:
                before = tuple(inputs[0].shape)
                # The output alone: padding may also come before the conv (nn.ZeroPad2d, F.pad).
                seen[index] = f"output {tuple(output.shape)}"
                if before[2:] != tuple(output.shape[2:]):
                    shape_changed.append(index)
        return record

    handles = [conv.register_forward_hook(hook(i)) for i, conv in enumerate(convs)]
    outputs = []
    try:
        with torch.no_grad():
            for training in (False, True):
                module.train(training)
                try:
                    outputs.append(module(x.clone()))
                except Exception as exc:
                    if not shape_changed:
                        raise
                    outputs.append(f"forward raised {type(exc).__name__}")
    finally:
        for handle in handles:
            handle.remove()
    return [[describe(i, conv) for i, conv in enumerate(convs)], *outputs]
