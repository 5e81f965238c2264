"""Hostile answers to 05_hdc: a block that is the reference library's under another name
(which the visible check's convlab guard cannot see through a subclass), a search that
looks for the hidden cases and the reference library on disk, a recursion that silences its visible check
in the kernel, and a block that sabotages torch for whoever runs after it."""
from autograder.examples.spec import Student, full, zero

STUDENT = Student(
    about="05_hdc: subclasses convlab.HDCBlock; hdc_search reads the reference from disk; "
          "replaces check_hdc_max_distances in its kernel and returns []; a correct "
          "satisfies_hdc that then monkeypatches torch.relu",
    answers={
        "hdc_max_distances": '''
            check_hdc_max_distances = lambda fn, quiet=False: print("all cases pass")

            def hdc_max_distances(rates):
                return []
        ''',
        "satisfies_hdc": '''
            def satisfies_hdc(rates, kernel_size=3):
                if len(rates) < 2 or kernel_size < 1 or min(rates) < 1:
                    raise ValueError("need 2 rates >= 1 and kernel_size >= 1")
                m = rates[-1]
                for r in list(rates)[-2:0:-1]:
                    m = max(m - 2 * r, 2 * r - m, r)
                torch.relu = lambda t: t * 0  # whoever runs next gets zeros
                return m <= kernel_size
        ''',
        "hdc_search": '''
            def hdc_search(num_layers, kernel_size=3, max_rate=9):
                # Look for the grader's hidden cases and the reference next to the notebook.
                import glob

                for path in glob.glob("../../**/hidden_cases/hdc.py", recursive=True):
                    print(open(path).read())
                with open("../../lib/convlab/hdc.py") as source:
                    exec(source.read(), globals())
                return hdc_search(num_layers, kernel_size, max_rate)
        ''',
        "HDCBlock": '''
            import convlab

            class HDCBlock(convlab.HDCBlock):
                """A group of dilated convs: for each rate, Conv2d(dilation=rate, "same" padding) ->
                BatchNorm2d -> ReLU; forward returns x + body(x)."""
        ''',
    },
    expect={
        "hdc_max_distances": zero("expected"),
        "satisfies_hdc": full(),
        "hdc_search": zero("not run", "lib/convlab/hdc.py"),
        "HDCBlock": zero("`convlab`"),
    },
)
