"""Helpers where a notebook keeps them: in a cell of their own, added above the answer.

The answers call a size helper, a constant and an import from added cells; those cells
also print and time things at their top level, which the grader must not need to run.
Every answer passes its visible check in the notebook, so every one gets full marks."""
from autograder.examples.spec import Student, add_cell, full

STUDENT = Student(
    about="defines helpers, a constant and an import in cells it added: full marks",
    answers={
        "conv2d_loops": '''
            def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
                n, c_in, h, w = x.shape
                c_out, c_w, kh, kw = weight.shape
                if c_w != c_in:
                    raise ValueError("channels of x and weight differ")
                h_out, w_out = out_hw(h, w, kh, kw, stride, padding)
                x = F.pad(x, (padding,) * PAD_SIDES)
                out = x.new_zeros((n, c_out, h_out, w_out))
                for i in range(h_out):
                    for j in range(w_out):
                        window = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                        out[:, :, i, j] = einsum("nckl,ockl->no", window, weight)
                if bias is not None:
                    out = out + bias.reshape(1, c_out, 1, 1)
                return out
        ''',
    },
    edits={"01_convolution": [
        add_cell('''
            from torch import einsum
            import time

            PAD_SIDES = 4  # left, right, top, bottom


            def out_hw(h, w, kh, kw, stride, padding):
                """Output height and width; ValueError when the kernel does not fit."""
                if kh > h + 2 * padding or kw > w + 2 * padding:
                    raise ValueError("kernel larger than the padded input")
                return (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1


            start = time.perf_counter()
            print(out_hw(5, 5, 3, 3, 1, 1), time.perf_counter() - start)
            for trial in range(3):
                print("trying", trial)
        ''', before="conv2d_loops"),
    ]},
    expect={"conv2d_loops": full("all", "hidden cases pass")},
)
