# Thin entry points only: each target is one command; the logic lives in xtask/ (see
# xtask/README.md) and infra/terraform/. `make` alone lists the targets.

.DEFAULT_GOAL := help
.PHONY: help run test lint fmt bench setup validate cluster cluster-down

# Terraform or OpenTofu, whichever is installed (`make cluster TF=tofu` to choose).
TF ?= $(shell command -v terraform >/dev/null 2>&1 && echo terraform || echo tofu)

help: ## List the targets with what they do
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z-]*:.*## / { printf "  make %-12s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

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

validate: ## The platform checks alone: Compose, overlays, policies, images, GitOps (no cluster needed)
	cargo xtask validate

cluster: ## A KIND cluster with Flux syncing this repo (needs Docker; see infra/terraform/README.md)
	$(TF) -chdir=infra/terraform init && $(TF) -chdir=infra/terraform apply

cluster-down: ## Delete the KIND cluster made by `make cluster`
	$(TF) -chdir=infra/terraform destroy
