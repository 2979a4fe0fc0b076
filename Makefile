# orgops: `make demo` runs the operator on a local control plane with moto;
# `make test` runs everything CI runs.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
HARNESS := tests/harness
RUN_DIR ?= $(CURDIR)/target/harness
export ORGOPS_RUN_DIR := $(RUN_DIR)

.PHONY: test lint unit crds crds-check cfn-lint e2e demo up down build scale

## test: formatting, lints, unit tests, CRD staleness, cfn-lint on the generated
## templates, end-to-end tests (real API server + moto)
test: lint unit crds-check cfn-lint e2e

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --workspace --exclude orgops-e2e

build:
	$(CARGO) build -p orgops

## crds: regenerate crds/ from the API types
crds:
	$(CARGO) run -q -p orgops -- crdgen --out crds

## crds-check: fail when crds/ differs from what the code generates
crds-check:
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(CARGO) run -q -p orgops -- crdgen --out "$$tmp"; \
	if ! diff -r crds "$$tmp"; then echo "crds/ is stale: run 'make crds' and commit the result" >&2; exit 1; fi

## cfn-lint: the SecurityBaseline templates of tests/baseline (kept equal to what orgops
## renders by the unit tests) are real CloudFormation
cfn-lint:
	venv=$$($(HARNESS)/install-cfn-lint.sh); "$$venv/bin/cfn-lint" tests/baseline/*.template.json

## up / down: start or stop etcd, kube-apiserver and moto (state in target/harness)
up:
	$(HARNESS)/env.sh up

down:
	$(HARNESS)/env.sh down

## e2e: end-to-end tests in a fresh local environment, stopped afterwards
e2e: build
	$(HARNESS)/env.sh down >/dev/null 2>&1 || true
	trap '$(HARNESS)/env.sh down' EXIT; \
	$(HARNESS)/env.sh up; \
	source $(RUN_DIR)/env; \
	$(CARGO) test -p orgops-e2e -- --test-threads=4

## demo: local control plane + moto + the operator + examples/, ending with `kubectl get`
demo: build
	$(HARNESS)/demo.sh

## scale: adopt ORGOPS_SCALE_ACCOUNTS (default 10,000) existing accounts with the release
## build and default flags: time to Ready, a new account applied midway, resident memory
scale:
	$(CARGO) build --release -p orgops
	$(HARNESS)/env.sh down >/dev/null 2>&1 || true
	trap '$(HARNESS)/env.sh down' EXIT; \
	$(HARNESS)/env.sh up; \
	source $(RUN_DIR)/env; \
	ORGOPS_BINARY=$(CURDIR)/target/release/orgops $(CARGO) test -p orgops-e2e --test scale_bench -- --ignored --nocapture
