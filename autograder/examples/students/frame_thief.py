"""A student who reaches the runtime's frames through TorchDynamo's C hooks, which need no
frame attribute the audit hook watches: an eval-frame callback is handed every frame that
runs after it is set (the runtime's ``send``, with the report and the sealing key in its
locals), and a value-stack reader looks into the frames above the answer. Each is refused
when it is used; those exercises score 0, the rest are the solution."""
from autograder.examples.spec import Student, zero

STUDENT = Student(
    about="01_convolution: corr2d returns zeros and sets a TorchDynamo eval-frame callback "
          "to rewrite the runtime's outgoing report; conv_output_size reads the value stack "
          "of the frames above it",
    answers={
        "corr2d": '''
            from torch._dynamo.types import ConvertFrameReturn

            def _rewrite(frame, *rest):
                # The runtime's send(): swap its report for the right answer, seal it with its key.
                if "key" in frame.f_locals and "message" in frame.f_locals:
                    STOLEN.append(frame.f_locals["key"])
                return ConvertFrameReturn()

            STOLEN = []

            def corr2d(x, kernel):
                torch._C._dynamo.eval_frame.set_eval_frame(_rewrite)
                return x.new_zeros(x.shape[0] - kernel.shape[0] + 1, x.shape[1] - kernel.shape[1] + 1)
        ''',
        "conv_output_size": '''
            def conv_output_size(n, k, stride=1, padding=0):
                peek = getattr(torch._C._dynamo.eval_frame, "_get_frame_value_stack_with_depth")
                for depth in range(1, 6):
                    peek(depth)  # whatever the callers hold: their arguments, their functions
                if stride < 1 or k > n + 2 * padding:
                    raise ValueError("kernel larger than the padded input, or stride < 1")
                return (n + 2 * padding - k) // stride + 1
        ''',
    },
    expect={
        "corr2d": zero("refused", "frame hooks"),
        "conv_output_size": zero("refused", "frame hooks"),
    },
)
