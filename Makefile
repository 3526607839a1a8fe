# Primerka — the two commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help
ARGS ?=

.PHONY: help run test build frontend types fmt lint test-rust test-frontend test-e2e test-scripts bench \
	run-bench-server loadtest clean-data stop-postgres fuzz

help: ## list the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

run: ## provision PostgreSQL, build the Mini App and the server, start (demo mode without keys) on :8080
	@scripts/run.sh

test: ## every test: Rust, scripts, frontend unit, Playwright e2e, load-test smoke
	@scripts/test.sh

build: ## release build of the server and the Mini App
	scripts/build-frontend.sh
	cargo build --release --bins

frontend: ## build the Mini App into frontend/dist
	scripts/build-frontend.sh

types: ## regenerate the frontend's TypeScript API/event types from the Rust types
	UPDATE_TYPES=1 cargo test --lib typescript

fmt: ## format Rust code
	cargo fmt

lint: ## rustfmt check and clippy with warnings as errors
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

fuzz: ## long fuzz run of every parser strangers reach (FUZZ_CASES per target, default 200000, ~4 min; a smoke run is part of make test)
	FUZZ_CASES=$${FUZZ_CASES:-200000} cargo nextest run --test fuzz

test-rust: ## Rust tests only
	SKIP="scripts frontend e2e loadtest" scripts/test.sh

test-frontend: ## frontend unit tests only
	SKIP="rust scripts e2e loadtest" scripts/test.sh

test-e2e: ## Playwright flows against the real server only
	SKIP="rust scripts frontend loadtest" scripts/test.sh

test-scripts: ## shell script tests only
	SKIP="rust frontend e2e loadtest" scripts/test.sh

bench: ## criterion micro-benchmarks and session-actor benchmarks
	cargo bench --bench micro --bench sessions

run-bench-server: ## release server for load tests: demo mode, rate limits off, operator id 1, port 8080
	scripts/ensure-postgres.sh
	cargo build --release --bins
	APP_ENV=local RATE_LIMITS=off ADMIN_TELEGRAM_IDS=1 RUST_LOG=warn \
		DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/primerka_bench} ./target/release/primerka

loadtest: ## run primerka-loadtest against a running server: make loadtest ARGS="--users 1000 …"
	cargo build --release --bin primerka-loadtest
	./target/release/primerka-loadtest $(ARGS)

stop-postgres: ## stop the private PostgreSQL started by make run/test (if any)
	scripts/stop-postgres.sh

clean-data: ## remove local uploads/results and the private PostgreSQL cluster
	scripts/stop-postgres.sh
	rm -rf .data
