# sluice: the verbs. Every target sets up what it needs (virtual environments, pinned packages, npm tools).
SHELL := /bin/bash
export SAM_CLI_TELEMETRY := 0
# One Python for every part: Lambda python3.13, Glue 6.0 and the offline run (docs/runtimes.md).
PYTHON_VERSION := 3.13
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell scripts/find-python $(PYTHON_VERSION) 2>/dev/null)
endif
VENV := .venv
TOOLS := .venv-tools
PY := $(VENV)/bin/python
SLUICE := $(VENV)/bin/sluice
REGION ?= us-east-1
comma := ,
SAMPLE := .sluice/samples/offers-10k.csv
PYTEST_ARGS ?=
# make test runs the suite in this many pytest-xdist workers, a test file per worker at a time (their
# module-scoped emulations and Spark sessions are not shared between workers): 2 fits this 2-core machine.
TEST_WORKERS ?= 2

.PHONY: install run test test-fast lint build deploy bench clean build-SharedLayer build-TransformEngineLayer

install: $(VENV)/.installed $(TOOLS)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml requirements/dev.lock
	@test -n "$(PYTHON)" || { scripts/find-python $(PYTHON_VERSION); exit 1; }
	@# a .venv made by another Python (an older checkout's 3.11) is replaced, not patched
	if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != ($(subst .,$(comma),$(PYTHON_VERSION))))'; then rm -rf $(VENV); fi
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -c requirements/dev.lock -e '.[dev]'
	touch $@

# aws-sam-cli and checkov hard-pin boto3: they live in their own environment.
$(TOOLS)/.installed: requirements/tools.in requirements/tools.lock
	@test -n "$(PYTHON)" || { scripts/find-python $(PYTHON_VERSION); exit 1; }
	if [ -x $(TOOLS)/bin/python ] && ! $(TOOLS)/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != ($(subst .,$(comma),$(PYTHON_VERSION))))'; then rm -rf $(TOOLS); fi
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --upgrade pip
	$(TOOLS)/bin/pip install --quiet -c requirements/tools.lock -r requirements/tools.in
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

## run: generate a 10,000-row offers sample with 1% bad rows and run it through the emulated workflow
run: $(VENV)/.installed
	$(SLUICE) generate --dataset offers --rows 10000 --bad-rate 0.01 --seed 7 -o $(SAMPLE)
	$(SLUICE) run $(SAMPLE) --dataset offers --out .sluice/out

## test: the whole suite (unit, glue, state machine, end to end)
test: $(VENV)/.installed
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: $(VENV)/.installed
	$(VENV)/bin/pytest -q -m "not spark and not emulator" $(PYTEST_ARGS)

# lint: cfn-lint with the serverless rules; checkov on the real resources: the SAM transform expanded
# (with the roles, rules and queues SAM generates), zero failed checks, every skip justified in the template
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(SLUICE) contracts check
	$(TOOLS)/bin/cfn-lint -t template.sam.yaml -a cfn_lint_serverless.rules
	$(TOOLS)/bin/sam validate --lint --region $(REGION) -t template.sam.yaml
	npx --no-install asl-validator --json-path statemachine/pipeline.asl.json
	$(PY) -m sluice.local.translated .sluice/lint/template.json template.sam.yaml
	$(TOOLS)/bin/checkov -f .sluice/lint/template.json --framework cloudformation --compact --quiet --skip-download

## build: sam build without Docker (the layer is built by build-SharedLayer below); samconfig.toml has the defaults;
## then the Glue job's library, the zip its --extra-py-files names (glue/sluice_transform + sluice_lib's curated, errors, merge, catalog_files)
SAM_CONFIG_ENV ?= default
GLUE_LIBRARY := .aws-sam/glue/sluice_transform.zip
# sam's python_pip workflow wants python3.13 on PATH for the functions; it is the interpreter make found.
build: $(TOOLS)/.installed $(VENV)/.installed
	PATH="$(dir $(PYTHON)):$$PATH" $(TOOLS)/bin/sam build -t template.sam.yaml --config-env $(SAM_CONFIG_ENV)
	$(PY) -m sluice.glue_library build $(GLUE_LIBRARY)

## deploy: `sam deploy --guided` while the stack does not exist yet (it asks, starting from samconfig.toml's
## values, and saves the answers there), then plain `sam deploy`. sam uploads the Glue script (ScriptLocation)
## but nothing the job's arguments name: the library goes where the deployed job's --extra-py-files says.
deploy: build
	if $(TOOLS)/bin/sam list stack-outputs --config-env $(SAM_CONFIG_ENV) >/dev/null 2>&1; then \
		$(TOOLS)/bin/sam deploy --config-env $(SAM_CONFIG_ENV); \
	else $(TOOLS)/bin/sam deploy --guided --config-env $(SAM_CONFIG_ENV); fi
	$(PY) -m sluice.glue_library upload $(GLUE_LIBRARY) --config-env $(SAM_CONFIG_ENV)

# Lambda's python3.13 arm64 runtime (Amazon Linux 2023: glibc 2.34): layers are assembled with pip for that
# platform, without Docker, pinned by the same lock as the offline run. tests/unit/test_layer_binaries.py builds
# both layers with these targets and checks every compiled file's architecture, glibc and Python.
LAMBDA_PIP := $(PYTHON) -m pip install --quiet --no-compile --only-binary=:all: --implementation cp \
	--python-version $(PYTHON_VERSION) --platform manylinux_2_34_aarch64 --platform manylinux_2_28_aarch64 \
	--platform manylinux2014_aarch64 -c requirements/dev.lock

# Called by `sam build` for SharedLayer (Metadata BuildMethod: makefile, run in the repository root):
# the shared library, its pinned dependencies and the dataset contracts, under python/ as Lambda layers
# expect. boto3 and botocore come from the Lambda runtime: a copy in the layer (pulled in by
# aws-xray-sdk) would shadow the runtime's botocore under the runtime's boto3. Powertools is built in rather
# than taken from its public layer (AWSLambdaPowertoolsPythonV3-python313-arm64) so that the deployed version
# is the pinned one the tests ran.
build-SharedLayer:
	mkdir -p "$(ARTIFACTS_DIR)/python/sluice_contracts"
	cp -r functions/shared/sluice_lib "$(ARTIFACTS_DIR)/python/"
	find "$(ARTIFACTS_DIR)/python/sluice_lib" -name __pycache__ -prune -exec rm -rf {} +
	cp contracts/*.yaml "$(ARTIFACTS_DIR)/python/sluice_contracts/"
	$(LAMBDA_PIP) -r functions/shared/requirements.txt -t "$(ARTIFACTS_DIR)/python"
	rm -rf "$(ARTIFACTS_DIR)"/python/{boto3,botocore,s3transfer}{,-*.dist-info}

# Called by `sam build` for TransformEngineLayer: DuckDB, for the TransformInLambda function only.
build-TransformEngineLayer:
	$(LAMBDA_PIP) -r functions/shared/transform-engine-requirements.txt -t "$(ARTIFACTS_DIR)/python"

## bench: every benchmark, rewrites bench/results/*.md (BENCH_ARGS="--only validate" or "--quick")
bench: $(VENV)/.installed
	$(PY) -m bench.run $(BENCH_ARGS)

clean:
	rm -rf .sluice .aws-sam spark-warehouse metastore_db derby.log
