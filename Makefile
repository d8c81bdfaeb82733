# orderflow developer entry points. `make` alone lists them.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules --no-print-directory

SERVICES := bash scripts/services.sh

# Local stand-ins for AWS, read by the Rust code, the tests and
# scripts/services.sh alike. `?=` lets a value from the environment or the
# command line win, e.g. `make test MOTO_PORT=4567` when 4566 is taken.
MOTO_PORT ?= 4566
KAFKA_PORT ?= 9092
AWS_ENDPOINT_URL ?= http://127.0.0.1:$(MOTO_PORT)
AWS_REGION ?= us-east-1
# moto accepts any credentials, but the SDK refuses to sign without some.
AWS_ACCESS_KEY_ID ?= test
AWS_SECRET_ACCESS_KEY ?= test
KAFKA_BOOTSTRAP_SERVERS ?= 127.0.0.1:$(KAFKA_PORT)
# Builds aws-lc without its CPU-jitter entropy source, which costs every new
# process (each test binary, each Lambda cold start) tens of milliseconds
# before its first TLS or random call. It is a build input of aws-lc-sys:
# keeping it the same for every target avoids rebuilding that crate.
AWS_LC_SYS_NO_JITTER_ENTROPY ?= 1
# Native builds (the tests, the local stack, the bench's release binaries) link the machine's
# OpenSSL statically when it has one (Debian: libssl-dev) rather than compiling OpenSSL from
# source, the longest single step of a build from nothing (~5 min of 2 cores, in each profile).
# The binaries still depend on nothing but glibc. The names carry the native target, so the
# arm64 packages still compile OpenSSL for Lambda, and scripts/infra.sh clears them for x86_64.
NATIVE_OPENSSL := $(shell libdir=$$(pkg-config --variable=libdir openssl 2>/dev/null) && \
	test -f "$$libdir/libssl.a" -a -f "$$libdir/libcrypto.a" && echo 1 || echo 0)
X86_64_UNKNOWN_LINUX_GNU_OPENSSL_NO_VENDOR ?= $(NATIVE_OPENSSL)
X86_64_UNKNOWN_LINUX_GNU_OPENSSL_STATIC ?= 1

export MOTO_PORT KAFKA_PORT AWS_ENDPOINT_URL AWS_REGION AWS_ACCESS_KEY_ID \
	AWS_SECRET_ACCESS_KEY KAFKA_BOOTSTRAP_SERVERS AWS_LC_SYS_NO_JITTER_ENTROPY \
	X86_64_UNKNOWN_LINUX_GNU_OPENSSL_NO_VENDOR X86_64_UNKNOWN_LINUX_GNU_OPENSSL_STATIC

# The project's own tools (scripts/tools.sh installs them) win over other copies.
export PATH := $(CURDIR)/.local/tools/bin:$(PATH)

.PHONY: help setup services-up services-down services-status fmt prepare-in-background lint test run e2e soak bench

# --- AWS deployment (infra/) ---
# The functions' instruction set: `make package` builds for it and Terraform deploys it.
LAMBDA_ARCH ?= arm64
# Extra Terraform arguments, e.g. TF_ARGS='-var-file=prod.tfvars'.
TF_ARGS ?=
export LAMBDA_ARCH
# Terraform must reach AWS with the caller's own credentials: not moto's endpoint, and not the
# placeholder keys above, which only moto accepts.
TERRAFORM := env -u AWS_ENDPOINT_URL \
	$(if $(filter test,$(AWS_ACCESS_KEY_ID)),-u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY) \
	terraform -chdir=infra
TF_VARS := -var=lambda_architecture=$(LAMBDA_ARCH) $(TF_ARGS)

.PHONY: package package-check plan deploy destroy infra-check

help: ## List the targets
	@printf 'Usage: make TARGET\n\nTargets:\n'
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z0-9_-]+:.*## / { printf "  %-16s %s\n", $$1, $$2 }' \
		$(MAKEFILE_LIST)

setup: ## Install the missing tools under .local/tools: moto, tansu, cargo-lambda, zig
	bash scripts/tools.sh install

services-up: ## Start moto and tansu, then create the tables and topics
	$(SERVICES) up
	cargo run --quiet --locked --bin devstack -- bootstrap

services-down: ## Stop moto and tansu
	$(SERVICES) down

services-status: ## Show whether moto and tansu are running
	$(SERVICES) status

fmt: ## Format the code
	cargo fmt --all

# While clippy keeps both cores busy, the downloads that later steps need (the tools, the Python
# environments of the infra checks) run alongside; those steps wait for them if they are not done.
# They install only what is missing: on a second run this takes no time.
prepare-in-background:
	@mkdir -p .local/logs
	@(bash scripts/tools.sh install && bash scripts/infra.sh prepare) >.local/logs/prepare.log 2>&1 &

lint: ## Check formatting and run clippy with warnings as errors
	@bash scripts/disk.sh 7
	@bash scripts/step.sh "formatting and clippy (first build: ~8 min on 2 cores)" bash -c \
		'cargo fmt --all -- --check && cargo clippy --workspace --all-targets --locked -- -D warnings'

# Tests create their own uniquely named tables and topics, so no bootstrap.
# `with` stops afterwards only the services it had to start, even when the
# tests fail, and exits with the tests' status. The release zips are checked
# by `make package-check` (CI runs it after this), not here: building them
# takes 15-20 minutes from scratch.
test: prepare-in-background lint ## Lint, then every test against local moto and tansu, the bench's quick run, the end-to-end test, the infra checks
	@bash scripts/step.sh "tests against moto and tansu (first build: ~7 min; then ~2 min)" \
		$(SERVICES) with -- bash scripts/cargo-test.sh --workspace --locked
	@bash scripts/step.sh "a quick run of the bench's figures 1-3, so that it cannot rot; its numbers mean nothing (first build: ~2 min; then ~30 s)" \
		$(SERVICES) with -- cargo run --quiet --locked -p orderflow-bench -- --quick --figures 1,2,3 \
		--out target/bench-quick.json
	@bash scripts/step.sh "end-to-end story through every function and API fuzzing (~2 min; first build: ~2 min more)" $(MAKE) e2e
	@bash scripts/step.sh "offline checks of infra/ (~1 min)" $(MAKE) infra-check

soak: ## Randomized histories, longer and over several seeds (SOAK_RUNS=5, ~2 min each)
	$(SERVICES) with -- bash scripts/soak.sh

# Arguments of the bench, e.g. BENCH_ARGS='--quick' or BENCH_ARGS='--figures 4,5'.
BENCH_ARGS ?=

bench: ## Measure cost, latency, throughput, cold start, memory and zip size (bench/results.json)
	bash scripts/bench.sh $(BENCH_ARGS)

run: ## Start the whole pipeline locally, tell a short story through it, keep it running until Ctrl-C
	$(SERVICES) setup
	$(SERVICES) with -- bash scripts/run.sh run

e2e: ## Start the whole pipeline on fresh tables and topics; run the end-to-end test and the API fuzzing
	$(SERVICES) with -- bash scripts/run.sh e2e

package: ## Build every function's Lambda zip (target/lambda/<function>/bootstrap.zip)
	bash scripts/infra.sh package

# The topic creator's test needs the local broker. The zips have checks of their own,
# in `make package-check`, which builds them first.
infra-check: ## Check infra/ offline: parsing, fmt, checkov, consistency with the code
	$(SERVICES) with -- bash scripts/infra.sh check

package-check: package ## Build the release zips, then check them (arm64, glibc, static OpenSSL, SASL)
	@bash scripts/step.sh "checks of the release zips" bash scripts/infra.sh check-zips

plan: package ## Show what `make deploy` would change in the AWS account
	$(TERRAFORM) init -input=false
	$(TERRAFORM) plan $(TF_VARS)

deploy: package ## Build the zips, then create or update the whole stack in AWS
	$(TERRAFORM) init -input=false
	$(TERRAFORM) apply $(TF_VARS)

destroy: ## Delete the whole stack from AWS (turn off dynamodb_deletion_protection first)
	$(TERRAFORM) init -input=false
	$(TERRAFORM) destroy $(TF_VARS)
