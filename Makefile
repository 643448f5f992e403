# sluice: the verbs. Every target sets up what it needs (virtual environments, pinned packages, npm tools).
SHELL := /bin/bash
export SAM_CLI_TELEMETRY := 0
PYTHON ?= python3.11
VENV := .venv
TOOLS := .venv-tools
PY := $(VENV)/bin/python
SLUICE := $(VENV)/bin/sluice
REGION ?= us-east-1
SAMPLE := .sluice/samples/offers-10k.csv
PYTEST_ARGS ?=

.PHONY: install run test test-fast lint build deploy bench clean build-SharedLayer build-TransformEngineLayer

install: $(VENV)/.installed $(TOOLS)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml requirements/dev.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -c requirements/dev.lock -e '.[dev]'
	touch $@

# aws-sam-cli and checkov hard-pin boto3: they live in their own environment.
$(TOOLS)/.installed: requirements/tools.in requirements/tools.lock
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
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

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

## build: sam build without Docker (the layer is built by build-SharedLayer below); samconfig.toml has the defaults
SAM_CONFIG_ENV ?= default
build: $(TOOLS)/.installed
	$(TOOLS)/bin/sam build -t template.sam.yaml --config-env $(SAM_CONFIG_ENV)

## deploy: `sam deploy --guided` while the stack does not exist yet (it asks, starting from samconfig.toml's
## values, and saves the answers there), then plain `sam deploy`
deploy: build
	if $(TOOLS)/bin/sam list stack-outputs --config-env $(SAM_CONFIG_ENV) >/dev/null 2>&1; then \
		$(TOOLS)/bin/sam deploy --config-env $(SAM_CONFIG_ENV); \
	else $(TOOLS)/bin/sam deploy --guided --config-env $(SAM_CONFIG_ENV); fi

# Called by `sam build` for SharedLayer (Metadata BuildMethod: makefile, run in the repository root):
# the shared library, its pinned dependencies and the dataset contracts, under python/ as Lambda layers
# expect. boto3 and botocore come from the Lambda runtime: a copy in the layer (pulled in by
# aws-xray-sdk) would shadow the runtime's botocore under the runtime's boto3.
build-SharedLayer:
	mkdir -p "$(ARTIFACTS_DIR)/python/sluice_contracts"
	cp -r functions/shared/sluice_lib "$(ARTIFACTS_DIR)/python/"
	find "$(ARTIFACTS_DIR)/python/sluice_lib" -name __pycache__ -prune -exec rm -rf {} +
	cp contracts/*.yaml "$(ARTIFACTS_DIR)/python/sluice_contracts/"
	python3 -m pip install --quiet --no-compile --platform manylinux2014_x86_64 --only-binary=:all: \
		--python-version 3.11 -r functions/shared/requirements.txt -t "$(ARTIFACTS_DIR)/python"
	rm -rf "$(ARTIFACTS_DIR)"/python/{boto3,botocore,s3transfer}{,-*.dist-info}

# Called by `sam build` for TransformEngineLayer: DuckDB, for the TransformInLambda function only. Its wheel is
# tagged manylinux_2_27 while python3.11 functions run on Amazon Linux 2 (glibc 2.26), hence the explicit platform:
# the binary asks for GLIBC_2.25 and GLIBCXX_3.4.22 at most (tests/unit/test_transform_lambda_step.py checks).
build-TransformEngineLayer:
	python3 -m pip install --quiet --no-compile --platform manylinux_2_28_x86_64 --only-binary=:all: \
		--python-version 3.11 -r functions/shared/transform-engine-requirements.txt -t "$(ARTIFACTS_DIR)/python"

## bench: every benchmark, rewrites bench/results/*.md (BENCH_ARGS="--only validate" or "--quick")
bench: $(VENV)/.installed
	$(PY) -m bench.run $(BENCH_ARGS)

clean:
	rm -rf .sluice .aws-sam spark-warehouse metastore_db derby.log
