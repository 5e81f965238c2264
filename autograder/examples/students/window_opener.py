"""A student who waits for the runtime to look at their objects while it is privileged
(issue 14): an exception whose ``__traceback__`` is a fake with a ``tb_frame`` property,
garbage with a ``__del__`` for the collector to run wherever the runtime next allocates.
Either, run while the audit hook was off, could unregister the forbidden kernels (gc
walk to torch.library's objects) and then F.conv2d would compute. The runtime now reads
tracebacks with C getters on exact types only, and is never privileged but for one C
call with the collector off: the attempts run unprivileged and are refused."""
from autograder.examples.spec import Student, zero

STUDENT = Student(
    about="01_convolution: corr2d raises an exception with a fake traceback whose tb_frame "
          "unregisters the forbidden kernels, then uses F.conv2d; conv_output_size leaves "
          "cyclic garbage whose __del__ walks gc",
    answers={
        "corr2d": '''
            import gc

            def _unregister():
                for obj in gc.get_objects():
                    if isinstance(obj, torch.library.Library):
                        obj._destroy()

            class FakeTraceback:
                tb_next, tb_lineno = None, 1

                @property
                def tb_frame(self):
                    _unregister()  # run by the grader, it hoped, with the audit hook off
                    raise AttributeError("tb_frame")

            class Sneaky(Exception):
                def __getattribute__(self, name):
                    if name == "__traceback__":
                        return FakeTraceback()
                    return object.__getattribute__(self, name)

            OPENED = []

            def corr2d(x, kernel):
                if not OPENED:
                    OPENED.append(True)
                    raise Sneaky("the grader reads my traceback")
                return F.conv2d(x[None, None], kernel[None, None])[0, 0]
        ''',
        "conv_output_size": '''
            import gc

            class Litter:
                def __del__(self):
                    for obj in gc.get_objects():  # collected inside the grader's code, it hoped
                        if isinstance(obj, torch.library.Library):
                            obj._destroy()

            def conv_output_size(n, k, stride=1, padding=0):
                for _ in range(2000):
                    litter = Litter()
                    litter.me = litter
                if stride < 1 or k > n + 2 * padding:
                    raise ValueError("kernel larger than the padded input, or stride < 1")
                return (n + 2 * padding - k) // stride + 1
        ''',
    },
    expect={
        "corr2d": zero("conv2d"),
        "conv_output_size": zero("refused", "gc.get_objects"),
    },
)
