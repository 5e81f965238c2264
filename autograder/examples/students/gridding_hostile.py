"""Hostile answers to 04_gridding: the visible check switched off in the kernel, the
reference library called under another name, and a model sabotaged after use (the grader
builds every model afresh from its description, so that harms no one)."""
from autograder.examples.spec import Student, full, partial, zero

STUDENT = Student(
    about="04_gridding: replaces check_dependency_map in its kernel and returns all ones; "
          "calls convlab through an alias; zeroes the weights of the model it was given "
          "and replaces its forward after computing a correct ERF",
    answers={
        "dependency_map": '''
            # Silence the visible check in this kernel; the grader does not ask the kernel.
            check_dependency_map = lambda fn, quiet=False: print("all cases pass")

            def dependency_map(rates, kernel_size=3):
                size = 1 + (kernel_size - 1) * sum(rates)
                return torch.ones(size, size, dtype=torch.int64)
        ''',
        "has_gridding": '''
            import convlab as tools

            def has_gridding(rates, kernel_size=3):
                return tools.has_gridding(rates, kernel_size)
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
                (grad,) = torch.autograd.grad(out[0, :, out.shape[2] // 2, out.shape[3] // 2].sum(), x)
                grad = grad[0].abs().sum(0)
                if not grad.any():
                    raise ValueError("the centre output does not depend on the input")
                # Sabotage whoever looks at this model next.
                with torch.no_grad():
                    for param in model.parameters():
                        param.zero_()
                model.forward = lambda inputs: inputs
                return grad / grad.sum()
        ''',
    },
    expect={
        "dependency_map": zero("values differ", "same value"),
        "has_gridding": zero("`convlab`", "not run"),
        "effective_receptive_field": full(),
    },
)
