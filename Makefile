# Thin entry points only: each target is one cargo command; the logic lives in xtask/
# (see xtask/README.md). `make` alone lists the targets.

.DEFAULT_GOAL := help
.PHONY: help run test lint fmt bench setup

help: ## List the targets with what they do
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z-]*:.*## / { printf "  make %-6s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

run: ## Run blueprint-api (release) on 127.0.0.1:9898, data in target/run/data
	cargo xtask run

test: ## Everything CI checks: setup, fmt, clippy, shellcheck, tests, coverage, contract checks
	cargo xtask test

lint: ## Formatting check, clippy (warnings denied), shellcheck
	cargo xtask lint

fmt: ## Format all Rust code
	cargo fmt --all

bench: ## Benchmark blueprint-api against nginx and podinfo (target/bench/report.md)
	cargo xtask bench

setup: ## Install the pinned tools into the versioned cache (~/.cache/sre-blueprint)
	cargo xtask setup
