"""A careful student of 04_gridding who makes the catalogued slips: each answer validates
its input and is right on the cases its slip does not touch, and the feedback names it."""
from autograder.examples.spec import Student, partial

STUDENT = Student(
    about="04_gridding: reachability instead of path counts, coverage over a k*sum(rates) "
          "square, the common-factor test instead of looking for holes, a shift that wraps "
          "around, the ERF without abs: each mistake named",
    answers={
        "dependency_map": '''
            def dependency_map(rates, kernel_size=3):
                if len(rates) == 0 or min(rates) < 1 or kernel_size < 1:
                    raise ValueError("rates must be non-empty ints >= 1, kernel_size >= 1")
                reach = {0}
                for rate in rates:  # which offsets can be reached: a set, so no counts
                    reach = {p + rate * t for p in reach for t in range(kernel_size)}
                size = 1 + (kernel_size - 1) * sum(rates)
                line = torch.zeros(size, dtype=torch.int64)
                line[sorted(reach)] = 1
                return line[:, None] * line[None, :]
        ''',
        "coverage": '''
            def coverage(rates, kernel_size=3):
                if len(rates) == 0 or min(rates) < 1 or kernel_size < 1:
                    raise ValueError("rates must be non-empty ints >= 1, kernel_size >= 1")
                reach = {0}
                for rate in rates:
                    reach = {p + rate * t for p in reach for t in range(kernel_size)}
                side = kernel_size * sum(rates)  # "k pixels per layer"
                return len(reach) ** 2 / side ** 2
        ''',
        "has_gridding": '''
            def has_gridding(rates, kernel_size=3):
                if len(rates) == 0 or min(rates) < 1 or kernel_size < 1:
                    raise ValueError("rates must be non-empty ints >= 1, kernel_size >= 1")
                return math.gcd(*rates) > 1
        ''',
        "shared_inputs": '''
            def shared_inputs(rates, kernel_size=3, offset=1):
                reached = dependency_map(rates, kernel_size) > 0
                return int((reached & torch.roll(reached, offset, dims=1)).sum())
        ''',
        "effective_receptive_field": '''
            def effective_receptive_field(model, input_shape):
                if len(input_shape) != 3 or min(input_shape) < 1:
                    raise ValueError("input_shape must be (C, H, W), entries >= 1")
                model.eval()
                p = next(model.parameters())
                x = torch.ones(1, *input_shape, dtype=p.dtype, device=p.device, requires_grad=True)
                out = model(x)
                if out.dim() != 4:
                    raise ValueError("the model must return (N, C, H, W)")
                out[0, :, out.shape[2] // 2, out.shape[3] // 2].sum().backward()
                grad = x.grad[0].sum(0)  # signed: positive and negative paths cancel
                if not grad.any():
                    raise ValueError("the centre output does not depend on the input")
                return grad / grad.sum()
        ''',
    },
    expect={
        "dependency_map": partial("reachability (0/1) instead of path counts"),
        "coverage": partial("coverage over the wrong square"),
        "has_gridding": partial("common factor > 1"),
        "shared_inputs": partial("wraps around"),
        "effective_receptive_field": partial("no abs"),
    },
)
