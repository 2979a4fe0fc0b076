# orgops: `make demo` runs the operator on a local control plane with moto;
# `make test` runs everything CI runs.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
HARNESS := tests/harness
RUN_DIR ?= $(CURDIR)/target/harness
export ORGOPS_RUN_DIR := $(RUN_DIR)

# Every cargo command here compiles the workspace's own crates with clippy-driver, rustc
# with clippy's lints (the crates deny warnings): linting is part of the one build, and
# the dependencies are compiled once, never also checked apart as `cargo clippy` would.
export RUSTC_WORKSPACE_WRAPPER := clippy-driver

# The end-to-end test binary is built with the whole workspace selected, as the unit tests
# and the binary are: one resolution of the shared dependencies' features, so they are
# built once for all three (`-p orgops-e2e` alone would resolve fewer and rebuild most).
E2E_TEST := test --workspace --test e2e

# The kube-apiserver release the tests run, as bench and chaos report it.
export KUBE_VERSION := $(shell sed -n 's/^\tk8s.io\/kubernetes v//p' tests/tools/go.mod)

.PHONY: test check lint unit crds crds-check docs docs-check manifests manifests-check chart cfn-lint e2e demo up down build scale bench chaos

## test: formatting, lints, unit tests, CRD and manifest staleness, cfn-lint on the
## generated templates, the chart's checks, end-to-end tests (real API server + moto);
## prints the time of each phase, and the e2e runs print their ten slowest tests
TEST_PHASES := lint unit crds-check docs-check manifests-check cfn-lint chart e2e
test:
	@times=(); for phase in $(TEST_PHASES); do \
		started=$$SECONDS; $(MAKE) --no-print-directory $$phase; \
		times+=("$$phase $$((SECONDS - started)) s"); \
	done; \
	echo "make test: every phase passed; where its time went:"; printf '  %s\n' "$${times[@]}"

## check: the fast inner loop: formatting, lints, unit tests
check: lint unit

## lint: formatting, and every target built with clippy's lints (warnings denied)
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) build --workspace --all-targets

## unit: the unit tests of every crate (the end-to-end tests' own helpers included)
unit:
	$(CARGO) test --workspace --lib --bins

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

## docs: regenerate docs/reference/ (every flag, every metric) from the code
docs:
	$(CARGO) run -q -p orgops -- docgen --out docs/reference

## docs-check: fail when docs/reference/ differs from what the code generates
docs-check:
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(CARGO) run -q -p orgops -- docgen --out "$$tmp"; \
	if ! diff -r docs/reference "$$tmp"; then echo "docs/reference/ is stale: run 'make docs' and commit the result" >&2; exit 1; fi

GENERATED := charts/orgops/crds manifests/install.yaml manifests/prometheusrule.yaml \
	manifests/grafana-dashboard.json manifests/argocd/argocd-cm.yaml

## manifests: regenerate the chart's CRDs and manifests/ from the chart and its sources
manifests:
	$(HARNESS)/render.sh

## manifests-check: fail when a generated file differs from what the sources render
manifests-check:
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(HARNESS)/render.sh "$$tmp"; \
	for path in $(GENERATED); do \
		if ! diff -r "$$path" "$$tmp/$$path"; then echo "$$path is stale: run 'make manifests' and commit the result" >&2; exit 1; fi; \
	done

## chart: helm lint and template with default and full values, the ServiceMonitor and
## PrometheusRule against the Prometheus Operator's types, the alert rules' promtool
## tests, the Argo CD health checks' Lua tests, the Tiltfile's syntax
chart:
	helm=$$($(HARNESS)/install-helm.sh); debs=$$($(HARNESS)/install-debs.sh); \
	for values in charts/orgops/values.yaml tests/chart/values-full.yaml; do \
		"$$helm" lint --strict charts/orgops -f "$$values"; \
		"$$helm" template orgops charts/orgops --namespace orgops-system -f "$$values" >/dev/null; \
	done; \
	"$$helm" template orgops charts/orgops -f tests/chart/values-full.yaml \
		| (cd tests/tools && CGO_ENABLED=0 go run -trimpath -gcflags=all=-dwarf=false ./monitoring-check); \
	if "$$helm" template orgops charts/orgops --set controller.resyncc=5m >/dev/null 2>&1; then \
		echo "a misspelled value must fail against values.schema.json" >&2; exit 1; \
	fi; \
	"$$debs/usr/bin/promtool" check rules charts/orgops/files/alerts.yaml; \
	(cd charts/orgops/files && "$$debs/usr/bin/promtool" test rules alerts.test.yaml); \
	(cd manifests/argocd && LD_LIBRARY_PATH="$$debs/usr/lib/x86_64-linux-gnu" "$$debs/usr/bin/lua5.1" health_test.lua); \
	python3 -c 'import ast, sys; ast.parse(open("Tiltfile").read(), "Tiltfile")'

## cfn-lint: the SecurityBaseline templates of tests/baseline (kept equal to what orgops
## renders by the unit tests) and the change feed's stack are real CloudFormation
cfn-lint:
	venv=$$($(HARNESS)/install-cfn-lint.sh); "$$venv/bin/cfn-lint" tests/baseline/*.template.json manifests/aws/*.yaml

## up / down: start or stop etcd, kube-apiserver and moto (state in target/harness)
up:
	$(HARNESS)/env.sh up

down:
	$(HARNESS)/env.sh down

## e2e: end-to-end tests in a fresh local environment, stopped afterwards; the chaos smoke
## item that stops and starts the API server runs last and alone
e2e: build
	$(HARNESS)/env.sh down >/dev/null 2>&1 || true
	trap '$(HARNESS)/env.sh down' EXIT; \
	$(HARNESS)/env.sh up; \
	source $(RUN_DIR)/env; \
	export ORGOPS_HELM=$$($(HARNESS)/install-helm.sh); \
	$(HARNESS)/e2e.sh e2e-pool --test-threads=6 --skip a_small_api_server_outage_end_to_end && \
	$(HARNESS)/e2e.sh e2e-api-server --exact chaos::a_small_api_server_outage_end_to_end

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
	ORGOPS_BINARY=$(CURDIR)/target/release/orgops $(CARGO) $(E2E_TEST) -- --ignored --nocapture scale_bench::

## bench: the performance run with the release build in a fresh local environment
## (mixed estate: convergence, idle, drift; AWS quotas; memory up to 10,000 objects);
## writes target/bench/*.json and docs/performance.md
bench:
	$(CARGO) build --release -p orgops
	$(HARNESS)/env.sh down >/dev/null 2>&1 || true
	rm -rf target/bench
	trap '$(HARNESS)/env.sh down' EXIT; \
	$(HARNESS)/env.sh up; \
	source $(RUN_DIR)/env; \
	source $(HARNESS)/versions.env; export MOTO_VERSION; \
	export ORGOPS_BINARY=$(CURDIR)/target/release/orgops ORGOPS_BENCH_DATE=$$(date -u +%Y-%m-%d); \
	$(CARGO) $(E2E_TEST) -- --ignored --nocapture --test-threads=1 bench::mixed_estate bench::quota_mode bench::session_revocation && \
	ORGOPS_SCALE_READ_RATE=1000 $(CARGO) $(E2E_TEST) -- --ignored --nocapture scale_bench:: && \
	$(CARGO) $(E2E_TEST) -- --ignored --exact bench::report

## chaos: the reliability run with the release build in a fresh local environment (kill -9
## while creating, throttling and 5xx, the API server restarted, leader kills, bad input);
## writes target/chaos/*.json and docs/reliability.md
chaos:
	$(CARGO) build --release -p orgops
	$(HARNESS)/env.sh down >/dev/null 2>&1 || true
	rm -rf target/chaos
	trap '$(HARNESS)/env.sh down' EXIT; \
	$(HARNESS)/env.sh up; \
	source $(RUN_DIR)/env; \
	source $(HARNESS)/versions.env; export MOTO_VERSION; \
	export ORGOPS_BINARY=$(CURDIR)/target/release/orgops ORGOPS_BENCH_DATE=$$(date -u +%Y-%m-%d); \
	$(CARGO) $(E2E_TEST) -- --ignored --nocapture --test-threads=1 chaos::kills chaos::faults chaos::api_server chaos::leaders chaos::bad_input && \
	$(CARGO) $(E2E_TEST) -- --ignored --exact chaos::report
