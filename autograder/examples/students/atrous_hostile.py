"""Hostile answers to 03_atrous: torch's own dilated convolution where the exercise is to
write it, the reference library under another name, and a lookup table of the visible
cases. Each costs its exercise, with the reason named."""
from autograder.examples.spec import Student, zero

STUDENT = Student(
    about="03_atrous: atrous_conv2d as F.conv2d(dilation=rate), conv2d_dilated as an "
          "nn.Conv2d, space_to_batch through convlab, receptive_field from a table of the "
          "visible cases: 0 for each, with the reason",
    answers={
        "conv2d_dilated": '''
            def conv2d_dilated(x, weight, bias=None, stride=1, padding=0, dilation=1):
                layer = nn.Conv2d(weight.shape[1], weight.shape[0], tuple(weight.shape[2:]), stride=stride,
                                  padding=padding, dilation=dilation, bias=bias is not None).to(x)
                with torch.no_grad():
                    layer.weight.copy_(weight)
                    if bias is not None:
                        layer.bias.copy_(bias)
                    return layer(x)
        ''',
        "space_to_batch": '''
            import convlab as tools

            def space_to_batch(x, rate):
                return tools.space_to_batch(x, rate)
        ''',
        "atrous_conv2d": '''
            def atrous_conv2d(value, filters, rate, padding):
                if rate < 1 or padding not in ("SAME", "VALID") or filters.shape[2] != value.shape[3]:
                    raise ValueError("bad arguments")
                kh, kw = filters.shape[:2]
                x = value.permute(0, 3, 1, 2)
                if padding == "SAME":
                    th, tw = rate * (kh - 1), rate * (kw - 1)
                    x = F.pad(x, (tw // 2, tw - tw // 2, th // 2, th - th // 2))
                elif rate * (kh - 1) + 1 > x.shape[2] or rate * (kw - 1) + 1 > x.shape[3]:
                    raise ValueError("VALID: the dilated filter does not fit")
                # torch does the dilation: exactly what the exercise asks to build
                out = F.conv2d(x, filters.permute(3, 2, 0, 1), dilation=rate)
                return out.permute(0, 2, 3, 1)
        ''',
        "receptive_field": '''
            def receptive_field(layers):
                known = {((3, 1, 1),) * 3: 7, ((3, 1, 1), (3, 1, 2), (3, 1, 4)): 15,
                         ((3, 2, 1), (3, 2, 1)): 7, ((11, 4, 1), (3, 2, 1), (5, 1, 1)): 51,
                         ((2, 2, 1), (3, 1, 3), (2, 1, 2)): 18}
                return known.get(tuple(map(tuple, layers)), 0)
        ''',
    },
    expect={
        "conv2d_dilated": zero("torch convolution", "forbids"),
        "space_to_batch": zero("`convlab`", "not run"),
        "atrous_conv2d": zero("dilation > 1 is what you implement", "forbids"),
        "receptive_field": zero("0 of"),
    },
)
