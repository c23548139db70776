# One entry point for people and CI. Every target installs what it needs on first use.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov pins boto3 to a version the project cannot use, and import-linter needs a newer click than
# aws-sam-cli: they live in their own venv.
TOOLS_VENV ?= .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed
# The reference libraries the tests compare Sluice with (shap, NannyML): their pins clash with the project's.
ORACLES_VENV ?= .venv-oracles
ORACLES_STAMP := $(ORACLES_VENV)/.installed
# uv installs the pinned sets (constraints*.txt) into both venvs: the same packages as pip, in seconds.
UV_VERSION := 0.13.10
PYTEST_ARGS ?=
# The suite runs on every core (pytest-xdist); the least-privilege tests then judge the IAM trace it left.
TEST_WORKERS ?= auto
# The files whose tests are marked after_suite (collecting only them keeps the judging session short).
AFTER_SUITE_TESTS := tests/integration/test_least_privilege.py
# The Lambda runtime's Python (python3.12, Amazon Linux 2023): a working python3.12 on PATH (pyenv's shim
# only counts when it resolves), else the newest 3.12 among pyenv's installed versions.
PYTHON312 ?= $(shell { python3.12 -c 'import sys' >/dev/null 2>&1 && command -v python3.12; } || \
	ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12 2>/dev/null | sort -V | tail -n 1)

# Python caches bytecode (__pycache__, git-ignored; the builds leave it out) even where PYTHONDONTWRITEBYTECODE
# is set: else every process compiles again what it imports (uv installs no bytecode into the venvs), each
# pytest-xdist worker rewrites the tests' asserts, and so does every `sluice` process the tests start.
export PYTHONDONTWRITEBYTECODE :=

.PHONY: install tools oracles imports import-graph checkov test lint format bench clean browser-deps build local demo openapi check-build iam-report

install: $(STAMP) $(TOOLS_STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || test -n "$(PYTHON312)" || { echo "Python 3.12 (the Lambda runtime's version) is needed:" \
		"install it (e.g. 'pyenv install 3.12' or 'apt-get install python3.12') or pass PYTHON312=/path/to/python3.12"; exit 1; }
	test -x $(PY) || $(PYTHON312) -m venv $(VENV)
	@$(PY) -c 'import sys; assert sys.version_info[:2] == (3, 12), "$(VENV) is not Python 3.12: make clean, then make install"'
	$(PY) -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip install --python $(PY) --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

tools: $(TOOLS_STAMP)

# (uv installs into it: no pip needed there, which saves the 5 s ensurepip takes)
$(TOOLS_STAMP): constraints-tools.txt | $(STAMP)
	test -x $(TOOLS_VENV)/bin/python || $(PY) -m venv --without-pip $(TOOLS_VENV)
	$(BIN)/uv pip install --python $(TOOLS_VENV)/bin/python --quiet -c constraints-tools.txt checkov import-linter
	touch $(TOOLS_STAMP)

oracles: $(ORACLES_STAMP)

# The set is complete and pinned (constraints-oracles.txt), so it installs without resolving: --no-deps.
$(ORACLES_STAMP): constraints-oracles.txt | $(STAMP)
	test -x $(ORACLES_VENV)/bin/python || $(PY) -m venv --without-pip $(ORACLES_VENV)
	$(BIN)/uv pip install --python $(ORACLES_VENV)/bin/python --quiet --no-deps -r constraints-oracles.txt
	touch $(ORACLES_STAMP)

# checkov on template.yaml and on the CloudFormation SAM translates it to: every failed check must be fixed
# or skipped in template.yaml's Metadata with a reason. The scans are tests/unit/test_checkov.py's tests
# marked `lint`: `make lint` runs them, `make test` leaves them out (CI runs both: the scans run once).
checkov: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/pytest -m lint -q tests/unit/test_checkov.py

# The import contracts in pyproject.toml ([tool.importlinter]): the layers, what each may import, no cycles.
imports: $(TOOLS_STAMP)
	PYTHONPATH=layers/sluice/python $(TOOLS_VENV)/bin/lint-imports pyproject.toml

# The import graph of sluice's packages as the code has it today (docs/architecture.md shows its output).
import-graph: $(STAMP)
	$(PY) -m sluice.tools.import_graph

# Headless Chromium for the HTML report's browser test (Debian's package; CI runs as root).
browser-deps:
	@test -x /usr/bin/chromium || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

# Whole modules go to one worker each (tests/scheduling.py): no module-scoped fixture is set up twice, and
# the modules with a test marked slow start first. OpenMP and BLAS get one thread in each process: the
# workers already use every core, and threads on top of them only contend (HistGradientBoosting's spin).
test: export OMP_NUM_THREADS := 1
test: export OPENBLAS_NUM_THREADS := 1
test: export MKL_NUM_THREADS := 1
test: $(STAMP) $(TOOLS_STAMP) $(ORACLES_STAMP) browser-deps
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup -m "not after_suite and not lint" --durations=15 $(PYTEST_ARGS)
	$(BIN)/pytest -m after_suite $(AFTER_SUITE_TESTS)

# The linters are independent: `make lint` runs them on every core, mypy (the longest) and checkov first,
# each one's output printed whole when it ends. `sam validate --lint` is cfn-lint on the template.
LINT_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
LINTERS := lint-mypy checkov lint-ruff imports lint-sam lint-docs
.PHONY: $(LINTERS)

lint: $(STAMP) $(TOOLS_STAMP)
	@$(MAKE) --no-print-directory -j $(LINT_JOBS) --output-sync=target $(LINTERS)

lint-ruff: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

lint-mypy: $(STAMP)
	$(BIN)/mypy layers/sluice/python/sluice functions tests bench

lint-sam: $(STAMP)
	SAM_CLI_TELEMETRY=0 $(BIN)/sam validate --lint --template-file template.yaml

lint-docs: $(STAMP)
	$(PY) -m sluice.tools.docs.reference --check && NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# sam build into .aws-sam/build (the layers build with their Makefiles; pip runs from the venv).
# tests/integration/sam_build/ runs the same build in a temporary folder and checks the sizes.
build: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" SAM_CLI_TELEMETRY=0 $(BIN)/sam build --no-cached

# The python3.12 runtime's proof, on what `make build` left in .aws-sam/build: every shared object needs at
# most GLIBC_2.34 and every extension has the cpython-312/abi3 tag (readelf), and each function's handler
# answers its events/ files in a clean python3.12 that sees only the function and its layers (plus the
# runtime's boto3) against the local stack. The same tests build into a temporary folder in `make test`.
check-build: $(STAMP)
	@test -f .aws-sam/build/template.yaml || { echo "no .aws-sam/build: run make build first"; exit 1; }
	SLUICE_BUILD_DIR="$(abspath .aws-sam/build)" $(BIN)/pytest tests/integration/sam_build -q -p no:cacheprovider

# The stack on this machine: template.yaml in an embedded moto server on 127.0.0.1:4566.
local: $(STAMP)
	$(BIN)/sluice local up

# The whole loop on the local stack in one command (under 2 minutes on 2 cores): train, promote, serve
# over HTTP, reject, drift, alert, retrain, roll back. Model cards and the drift report go to demo-output/.
demo: $(STAMP)
	$(BIN)/sluice demo --out demo-output

# Least privilege, measured: what the last `make test` recorded (.sluice/iam-trace.jsonl, every call of the
# stack's principals under local IAM enforcement), per role: the calls only each statement allowed, and
# every action granted and never used (unless template.yaml says why in Metadata.SluiceIam.Unused).
iam-report: $(STAMP)
	$(PY) -m sluice.tools.local.iam.report .sluice/iam-trace.jsonl --template template.yaml

# The documentation site (mkdocs.yml, docs/): the reference pages regenerated from the code, then the site
# built into .sluice/site/ (strict: a broken link or anchor fails). `mkdocs serve` previews it. (The
# variable silences mkdocs-material's banner about MkDocs 2.0, printed on every build.)
.PHONY: docs
docs: $(STAMP)
	$(PY) -m sluice.tools.docs.reference
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) $(TOOLS_VENV) $(ORACLES_VENV) .aws-sam .sluice .pytest_cache .mypy_cache .ruff_cache demo-output

openapi: $(STAMP)
	$(PY) -c "from sluice.entrypoints.api import create_app, openapi_document; print(openapi_document(create_app()))" > openapi.json
