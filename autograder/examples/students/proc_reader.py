"""A student who looks for the runtime's memory in /proc (issue 14): by a relative path
from the working folder, a doubled slash, a symbolic link in /tmp, a descriptor of / and
a path relative to it. The sandbox has no /proc (only a copy of /proc/cpuinfo); the audit
hook resolves paths as the kernel does and refuses the ways it sees (each scores 0), and
what it cannot see (a descriptor's folder) finds nothing."""
from autograder.examples.spec import Student, zero

STUDENT = Student(
    about="01_convolution: corr2d opens ../../proc/self/maps, conv_output_size opens "
          "//proc/self/environ, im2col links /tmp/p to /proc, conv2d_loops opens "
          "proc/self/mem relative to a descriptor of /",
    answers={
        "corr2d": '''
            def corr2d(x, kernel):
                with open("../../proc/self/maps") as f:  # from /tmp/work
                    f.read()
                return x
        ''',
        "conv_output_size": '''
            def conv_output_size(n, k, stride=1, padding=0):
                with open("//proc/self/environ", "rb") as f:
                    return len(f.read())
        ''',
        "im2col": '''
            import os

            def im2col(x, kernel_size, stride=1, padding=0):
                os.symlink("/proc", "/tmp/p")
                with open("/tmp/p/self/mem", "rb") as f:
                    return f.read(8)
        ''',
        "conv2d_loops": '''
            import os

            def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
                root = os.open("/", os.O_RDONLY)
                fd = os.open("proc/self/mem", os.O_RDONLY, dir_fd=root)
                return os.read(fd, 8)
        ''',
    },
    expect={
        "corr2d": zero("refused", "opening ../../proc"),
        "conv_output_size": zero("refused", "opening", "environ"),  # the path is scrubbed
        "im2col": zero("refused", "os.symlink"),
        "conv2d_im2col": zero("refused", "os.symlink"),  # the solution, calling this im2col
        "conv2d_loops": zero("FileNotFoundError"),
    },
)
