# The course's front door: `make lab`, `make demo`, `make test`.
# Each target sets up .venv itself when it is missing or older than pyproject.toml.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Pin torch first so pip takes one known build; override for a CUDA build elsewhere,
# e.g. make test TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.convlab-installed
# nbgrader runs programs of the environment by name (`alembic` when it makes a gradebook:
# the formgrader's Manual Grading page, `nbgrader autograde`): the venv's bin comes first
# on PATH for every recipe, activated or not.
export PATH := $(abspath $(BIN)):$(PATH)
PYTEST_ARGS ?=
# Jupyter refuses to run as root (containers often are) unless told to.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab demo test test-slow test-all venv assignments release benchmark screenshots clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

# The server's root is the course root, so nbgrader's formgrader finds nbgrader_config.py;
# the --config file hardens the formgrader (autograder/formgrader_safety.py). No news
# pop-up for a new user: no news feed, and the lab settings folder of the student
# archive (its overrides.json answers JupyterLab's "get notified about news?" with no).
LAB_SETTINGS := $(CURDIR)/lib/convlab/release/student/lab
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks \
		--LabApp.news_url=None --LabApp.app_settings_dir="$(LAB_SETTINGS)" \
		--config="$(CURDIR)/autograder/jupyter_server_config.py" $(LAB_ARGS)

demo: $(STAMP)
	$(BIN)/convlab demo

# Two tiers, one suite (markers in pyproject.toml). `make test`: every rule, check,
# guard and limit, and every example student graded by the real pipeline (the attacks
# included), in under 6 minutes on 2 cores. `make test-slow`: the end-to-end runs that
# take minutes each (nbgrader's own commands, executed notebooks, the students' archive in
# a fresh environment, the sandbox's process-level attacks, the browser). CI runs both
# (`make test-all`, .ci/run).
# --dist loadscope: each test module runs on one worker, so its expensive module fixture
# (the example students graded, the Jupyter server of a browser test module) is made once
# while the other worker goes on (xdist 3.8's loadgroup ignores xdist_group under pytest 9).
PYTEST := $(BIN)/python -m pytest -n 2 --dist loadscope --durations=15
test: $(STAMP)
	$(PYTEST) -m "not slow and not browser" $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(PYTEST) -m "slow or browser" $(PYTEST_ARGS)

test-all: test test-slow

# The README's screenshots (docs/screenshots/), taken by the browser tests as they run.
screenshots: $(STAMP)
	CONVLAB_SCREENSHOTS="$(CURDIR)/docs/screenshots" $(BIN)/python -m pytest -p no:cacheprovider tests/browser

# Regenerate notebooks/ from solutions/ (every assignment in convlab.cli.ASSIGNMENTS).
assignments: $(STAMP)
	$(BIN)/convlab generate

# The students' archive: notebooks + the student build of convlab, without any answer.
release: $(STAMP)
	$(BIN)/convlab release $(if $(RELEASE_OUT),--out $(RELEASE_OUT))

benchmark: $(STAMP)
	$(BIN)/python benchmarks/bench_conv.py

clean:
	rm -rf $(VENV) autograder/work .pytest_cache .hypothesis dist
