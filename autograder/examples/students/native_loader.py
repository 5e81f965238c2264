"""A student who loads native code (issue 14): a shared object written to /tmp and
imported as an extension module (here a copy of the standard library's _json: no
compiler needed; a real attack would bring its own), and an anonymous in-memory file
(memfd_create) to load one from. The child's seccomp filter maps no file executable after
the supervisor has loaded what the runtime needs, and refuses memfd_create: the import
fails, the attempt at memfd_create is refused and recorded."""
from autograder.examples.spec import Student, zero

STUDENT = Student(
    about="01_convolution: corr2d copies lib-dynload's _json*.so to /tmp and imports it; "
          "conv_output_size makes a memfd to load code from",
    answers={
        "corr2d": '''
            import glob, importlib.util, os, shutil, sys

            def corr2d(x, kernel):
                folder = [p for p in sys.path if p.endswith("lib-dynload")][0]
                original = glob.glob(folder + "/_json*.so")[0]
                os.makedirs("/tmp/native", exist_ok=True)
                copy = shutil.copyfile(original, "/tmp/native/" + os.path.basename(original))
                spec = importlib.util.spec_from_file_location("_json", copy)
                native = importlib.util.module_from_spec(spec)  # my own code would run here
                return F.conv2d(x[None, None], kernel[None, None])[0, 0]
        ''',
        "conv_output_size": '''
            import os

            def conv_output_size(n, k, stride=1, padding=0):
                fd = os.memfd_create("payload")
                if stride < 1 or k > n + 2 * padding:
                    raise ValueError("kernel larger than the padded input, or stride < 1")
                return (n + 2 * padding - k) // stride + 1
        ''',
    },
    expect={
        "corr2d": zero("ImportError"),
        "conv_output_size": zero("refused", "memfd_create"),
    },
)
