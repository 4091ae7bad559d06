# StreamHub: `make run` to use it, `make test` to check it. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: help deps build build-server build-release build-site run cluster test test-rust test-e2e test-hosts reliability fuzz-api soak lint fmt clean bench-api bench-produce bench-relay bench-consume bench-flood bench-filters bench-masks bench-dashboard bench-cluster bench-delivery bench-schemas bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

deps: ## Install what is missing (wasm32 target, tansu, wasm-bindgen, wasm-split, Chromium, PostgreSQL, HAProxy, zopfli, npm packages)
	@source .ci/lib.sh && phase "install dependencies" .ci/install-deps

build-server: deps
	@source .ci/lib.sh && phase "build server binaries" $(CARGO) build --locked -p streamhub -p streamhub-testkit --bins --examples

# What `make run` starts: optimised, the same binaries the benchmarks measure (`cargo bench`
# shares the release profile's output). The tests use the dev profile above.
build-release: deps
	@source .ci/lib.sh && phase "build optimised server binaries (release)" $(CARGO) build --locked --release -p streamhub -p streamhub-testkit --bins

build-site: deps
	@source .ci/lib.sh && phase "build dashboard (WASM)" .ci/build-site

build: build-server build-site ## Build the server binaries and the dashboard

run: build-release build-site ## Start broker, server and producer (optimised builds); Ctrl-C stops them all
	@.ci/run-stack

cluster: build-release build-site ## PostgreSQL, broker, two server instances behind HAProxy, producer; Ctrl-C stops them all
	@.ci/run-cluster

test: build ## Every test: unit, integration on SQLite and PostgreSQL (real broker), end-to-end (Chromium), multi-host, faults, hostile input, soak, lint
	@source .ci/lib.sh && start=$$SECONDS && \
	  phase "WASM budget (first visit to each page)" .ci/wasm-chunks report "$$CARGO_TARGET_DIR/site/pkg" --budget 400000 && \
	  phase "unit and integration tests" $(CARGO) test --locked -- --skip hostile:: && \
	  phase "integration tests on PostgreSQL" env STREAMHUB_TEST_DATABASE=postgres \
	    $(CARGO) test --locked -p streamhub --test integration -- --skip hostile:: --skip store:: --skip cluster:: && \
	  phase "end-to-end tests (Chromium)" .ci/e2e && \
	  phase "multi-host test (network namespaces)" .ci/hosts && \
	  phase "several instances on several hosts (network namespaces)" .ci/hosts-cluster && \
	  phase "fault injection (reliability)" .ci/reliability && \
	  phase "hostile input (schemathesis, connection flood)" .ci/fuzz-api && \
	  phase "soak ($${SOAK_SECONDS:-60} s)" .ci/soak && \
	  phase "lint (rustfmt, clippy)" $(MAKE) --no-print-directory lint && \
	  echo "make test: all phases passed in $$((SECONDS - start))s (after build)"

test-rust: build-server ## Only the Rust tests
	$(CARGO) test --locked

test-e2e: build ## Only the browser tests
	.ci/e2e

test-hosts: build ## Broker, dashboard, producer, consumer, viewer on five network namespaces; then PostgreSQL, two instances and HAProxy on their own, one instance killed (root)
	.ci/hosts
	.ci/hosts-cluster

reliability: build ## The proofs of RELIABILITY.md: faults (table), multi-host, hostile input, soak
	@source .ci/lib.sh && \
	  phase "fault injection" .ci/reliability && \
	  phase "multi-host" .ci/hosts && \
	  phase "several instances, multi-host" .ci/hosts-cluster && \
	  phase "hostile input" .ci/fuzz-api && \
	  phase "soak" .ci/soak

fuzz-api: build ## Hostile input: schemathesis over the OpenAPI document, connection flood, secrets
	.ci/fuzz-api

soak: build ## 200 WebSocket clients coming and going at a steady rate (SOAK_SECONDS=1800 for 30 min)
	.ci/soak

lint: ## rustfmt, clippy and the module graph (no cycles; only http/ knows axum), as CI wants them
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	.ci/module-graph --check server/src app/src testkit/src >/dev/null

fmt: ## Format the code
	$(CARGO) fmt --all

bench-api: deps ## Load benchmark of the REST API (wrk; see BENCHMARKS.md)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(CARGO) bench --locked -p streamhub --bench api_load

bench-produce: deps ## Producer benchmark: generators alone, daemon vs bare rdkafka loop
	$(CARGO) bench --locked -p streamhub --bench produce

bench-delivery: deps ## The cost of one delivery: server CPU per record handed to a socket, 1,000 × 100/s and 10,000 × 10/s, with and without a filter (BENCH_PROFILE=1: where it goes)
	ulimit -n $$(ulimit -Hn); $(CARGO) bench --locked -p streamhub --bench delivery

bench-cluster: deps ## Several instances: REST on SQLite vs PostgreSQL vs two behind HAProxy, fan-out on one vs two, cross-instance change latency
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	ulimit -n $$(ulimit -Hn); $(CARGO) bench --locked -p streamhub --bench cluster

bench-relay: deps ## Relay benchmark: single client vs bare consumer, 1,000-client fan-out, idle sockets
	ulimit -n $$(ulimit -Hn); $(CARGO) bench --locked -p streamhub --bench relay

bench-consume: deps ## CLI consumer benchmark: consume to the end vs bare rdkafka loop
	$(CARGO) bench --locked -p streamhub --bench consume

bench-flood: deps ## Flood benchmark: an admin's approve latency under 2,000 flooding connections vs quiet
	ulimit -n $$(ulimit -Hn); $(CARGO) bench --locked -p streamhub --bench flood

bench-filters: deps ## Filter and search benchmark: fan-out with 0, 50 and 1,000 distinct filters; search vs bare consumer
	ulimit -n $$(ulimit -Hn); $(CARGO) bench --locked -p streamhub --bench filters

bench-masks: deps ## Masked fields benchmark: 1,000 sockets (half masked) on a topic with three masked fields vs none
	ulimit -n $$(ulimit -Hn); $(CARGO) bench --locked -p streamhub --bench masks

bench-schemas: deps ## Records with schemas benchmark: Avro fan-out at 1,000 sockets vs the same records as JSON; search over 500,000 Avro records vs a bare consumer decoding them
	ulimit -n $$(ulimit -Hn); $(CARGO) bench --locked -p streamhub --bench schemas

bench-dashboard: build-release build-site ## Dashboard budgets in Chromium against the optimised server: overview paint, viewer main thread under load, each page's first visit on a throttled link
	bash .ci/bench-dashboard

bench: bench-api bench-produce bench-relay bench-consume bench-flood bench-filters bench-masks bench-dashboard bench-cluster bench-delivery bench-schemas ## Every benchmark (see BENCHMARKS.md)

clean: ## Remove build output (not the data directory)
	$(CARGO) clean
