"""Slips that once reached the student unnamed (issue 16): a size error from an output
sized with k, a canvas of 1 + k*sum(rates), the M recursion run forwards, a ResNet block's
last ReLU after the sum. Each answer validates its input; the feedback names each slip,
the size error included (it crashes rather than returns a wrong value)."""
from autograder.examples.spec import Student, partial, zero

STUDENT = Student(
    about="03-05: conv2d_dilated sized with k (crashes on a size mismatch), dependency_map "
          "on a 1 + k*sum(rates) canvas, the HDC recursion run forwards, HDCBlock with its "
          "last ReLU after the residual sum: each mistake named",
    answers={
        "conv2d_dilated": '''
            def conv2d_dilated(x, weight, bias=None, stride=1, padding=0, dilation=1):
                if dilation < 1:
                    raise ValueError("dilation must be >= 1")
                if weight.shape[1] != x.shape[1]:
                    raise ValueError("weight's C_in differs from x's channels")
                kh, kw = weight.shape[2:]
                if (dilation * (kh - 1) + 1 > x.shape[2] + 2 * padding
                        or dilation * (kw - 1) + 1 > x.shape[3] + 2 * padding):
                    raise ValueError("the dilated kernel is larger than the padded input")
                xp = F.pad(x, (padding,) * 4)
                ho = (xp.shape[2] - kh) // stride + 1  # sized with k, not d(k-1)+1
                wo = (xp.shape[3] - kw) // stride + 1
                out = x.new_zeros((x.shape[0], weight.shape[0], ho, wo))
                for i in range(kh):
                    for j in range(kw):
                        tap = xp[:, :, i * dilation:i * dilation + stride * (ho - 1) + 1:stride,
                                 j * dilation:j * dilation + stride * (wo - 1) + 1:stride]
                        out += torch.einsum("nchw,oc->nohw", tap, weight[:, :, i, j])
                if bias is not None:
                    out += bias.view(1, -1, 1, 1)
                return out
        ''',
        "dependency_map": '''
            def dependency_map(rates, kernel_size=3):
                if len(rates) == 0 or min(rates) < 1 or kernel_size < 1:
                    raise ValueError("rates must be non-empty ints >= 1, kernel_size >= 1")
                size = 1 + kernel_size * sum(rates)  # "each layer adds k*r"
                counts = {0: 1}
                for rate in rates:
                    new = {}
                    for offset, n in counts.items():
                        for t in range(kernel_size):
                            new[offset + rate * t] = new.get(offset + rate * t, 0) + n
                    counts = new
                span = (kernel_size - 1) * sum(rates)
                shift = size // 2 - (span + 1) // 2  # the centre R // 2 in the middle
                line = torch.zeros(size, dtype=torch.int64)
                for offset, n in counts.items():
                    line[offset + shift] = n
                return line[:, None] * line[None, :]
        ''',
        "hdc_max_distances": '''
            def hdc_max_distances(rates):
                rates = list(rates)
                if not rates or min(rates) < 1:
                    raise ValueError("rates must be a non-empty list of ints >= 1")
                m = [rates[0]]  # M_1 = r_1, then up the layers
                for r in rates[1:]:
                    m.append(max(m[-1] - 2 * r, m[-1] - 2 * (m[-1] - r), r))
                return m
        ''',
        "HDCBlock": '''
            class HDCBlock(nn.Module):
                def __init__(self, channels, rates, kernel_size=3):
                    super().__init__()
                    if channels < 1 or not rates or min(rates) < 1:
                        raise ValueError("channels >= 1 and rates >= 1")
                    if kernel_size < 1 or kernel_size % 2 == 0:
                        raise ValueError("kernel_size must be odd and >= 1")
                    self.convs = nn.ModuleList(
                        nn.Conv2d(channels, channels, kernel_size, padding="same", dilation=r, bias=False)
                        for r in rates)
                    self.norms = nn.ModuleList(nn.BatchNorm2d(channels) for _ in rates)

                def forward(self, x):
                    y = x
                    for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
                        y = norm(conv(y))
                        if i < len(self.convs) - 1:
                            y = torch.relu(y)
                    return torch.relu(x + y)  # as in a ResNet block
        ''',
    },
    expect={
        # Dilation-1 cases pass; the others crash on a size mismatch, named all the same.
        "conv2d_dilated": partial("raised RuntimeError", "output sized with k instead of the dilated extent"),
        "dependency_map": zero("R = 1 + k*sum(rates) instead of 1 + (k-1)*sum(rates)"),
        "hdc_max_distances": partial("recursion run forwards (M_1 = r_1)"),
        "HDCBlock": zero("last ReLU moved after the residual add (a ResNet block)"),
    },
)
