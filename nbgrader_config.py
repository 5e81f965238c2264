# nbgrader reads nbgrader_config.py from the folder it runs in (the repo root);
# the course's configuration lives with the autograder.
import os

load_subconfig(os.path.join(os.path.dirname(os.path.abspath(__file__)), "autograder", "nbgrader_config.py"))
