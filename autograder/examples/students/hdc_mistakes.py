"""05_hdc's classic slips, one per exercise: each answer validates its input and is right
wherever its slip makes no difference, so it earns partial credit (the block, wrong on every
valid case, earns none) and the feedback names the slip."""
from autograder.examples.spec import Student, partial, zero

STUDENT = Student(
    about="05_hdc: the M recursion reads r_{i+1}, the rule compares with K - 1, the search "
          "allows decreasing rates, the HDC block forgets the residual, ASPP without its "
          "image-pooling branch, multi-grid with the output strides' base rates swapped: partial "
          "credit, each mistake named",
    answers={
        "hdc_max_distances": '''
            def hdc_max_distances(rates):
                rates = list(rates)
                if not rates or min(rates) < 1:
                    raise ValueError("rates must be a non-empty list of ints >= 1")
                m = [rates[-1]]
                for i in range(len(rates) - 2, -1, -1):
                    r = rates[i + 1]  # one ahead: the rate of the layer above
                    m.insert(0, max(m[0] - 2 * r, m[0] - 2 * (m[0] - r), r))
                return m
        ''',
        "satisfies_hdc": '''
            def satisfies_hdc(rates, kernel_size=3):
                if len(rates) < 2 or kernel_size < 1:
                    raise ValueError("need 2 rates and kernel_size >= 1")
                m = rates[-1]
                for r in list(rates)[-2:0:-1]:  # from M_n down to M_2
                    m = max(m - 2 * r, m - 2 * (m - r), r)
                return m <= kernel_size - 1  # "smaller than K"
        ''',
        "hdc_search": '''
            def hdc_search(num_layers, kernel_size=3, max_rate=9):
                if num_layers < 2 or kernel_size < 1 or max_rate < 1:
                    raise ValueError("num_layers >= 2, kernel_size >= 1, max_rate >= 1")
                schedules = []
                for tail in itertools.product(range(1, max_rate + 1), repeat=num_layers - 1):
                    m = tail[-1]
                    for r in tail[-2::-1]:  # M_2 from the tail alone: r_1 plays no part
                        m = max(m - 2 * r, m - 2 * (m - r), r)
                    if m <= kernel_size:
                        schedules.append((1, *tail))
                return sorted(schedules)
        ''',
        "HDCBlock": '''
            class HDCBlock(nn.Module):
                """A group of dilated convs: for each rate, Conv2d(dilation=rate, "same" padding) ->
                BatchNorm2d -> ReLU; forward returns x + body(x)."""

                def __init__(self, channels, rates, kernel_size=3):
                    super().__init__()
                    if channels < 1 or not rates or min(rates) < 1:
                        raise ValueError("channels >= 1 and rates >= 1")
                    if kernel_size < 1 or kernel_size % 2 == 0:
                        raise ValueError("kernel_size must be odd and >= 1")
                    self.convs = nn.ModuleList(
                        nn.Conv2d(channels, channels, kernel_size, padding="same", dilation=r)
                        for r in rates)
                    self.norms = nn.ModuleList(nn.BatchNorm2d(channels) for _ in rates)

                def forward(self, x):
                    for conv, norm in zip(self.convs, self.norms):
                        x = torch.relu(norm(conv(x)))
                    return x  # the input is never added back
        ''',
        "ASPP": '''
            class ASPP(nn.Module):
                def __init__(self, in_channels, out_channels, rates=(6, 12, 18)):
                    super().__init__()
                    rates = list(rates)
                    if in_channels < 1 or out_channels < 1 or not rates or min(rates) < 1:
                        raise ValueError("channels and rates must be >= 1")

                    def branch(c_in, k=1, r=1):
                        return nn.Sequential(nn.Conv2d(c_in, out_channels, k, padding=r if k == 3 else 0,
                                                       dilation=r, bias=False),
                                             nn.BatchNorm2d(out_channels), nn.ReLU())

                    self.branches = nn.ModuleList([branch(in_channels)] + [branch(in_channels, 3, r) for r in rates])
                    self.project = branch((len(rates) + 1) * out_channels)  # no image-pooling branch

                def forward(self, x):
                    return self.project(torch.cat([b(x) for b in self.branches], dim=1))
        ''',
        "multigrid_rates": '''
            def multigrid_rates(output_stride, multi_grid=(1, 2, 4), block=4):
                units = list(multi_grid)
                if output_stride not in (8, 16) or block < 3 or not units or min(units) < 1:
                    raise ValueError("output_stride 8 or 16, block >= 3, unit rates >= 1")
                base = 2 ** (block - 3) * output_stride // 8  # "a larger output stride dilates more"
                return [base * u for u in units]
        ''',
    },
    expect={
        "hdc_max_distances": partial("r_{i+1} used instead of r_i"),
        "satisfies_hdc": partial("strict M_2 < K"),
        "hdc_search": partial("decreasing rates allowed"),
        # Every valid case fails; passing only the ValueError cases earns nothing.
        "HDCBlock": zero("residual add missing"),
        "ASPP": zero("no image pooling branch"),
        "multigrid_rates": zero("base rates of output stride 8 and 16 swapped"),
    },
)
