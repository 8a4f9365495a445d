# Run `make` (or `make help`) for the list of targets.
SHELL := /bin/bash
GO ?= go
STATICCHECK_VERSION := v0.8.2
# The image's version: the nearest tag, the commit, "-dirty" for local changes.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
# Modules of the repository: the product, the Kubernetes manifests' check and the official-SDK check and benchmark.
MODULES := . deploy/k8s internal/sdkcheck internal/sdkbench
# Services are found or started by scripts/services.sh, which prints the
# TEST_REDIS_URL and TEST_DATABASE_URL exports the tests read.
SERVICES := eval "$$(scripts/services.sh)"

.DEFAULT_GOAL := help
.PHONY: help test tidy services fmt vet lint bench build chaos image

help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

test: tidy ## Start/check the services, then go mod tidy, gofmt, go vet and go test -race in every module (what CI runs).
	@$(SERVICES) && \
	  unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi && \
	  $(GO) vet ./... && \
	  (cd deploy/k8s && $(GO) vet ./... && $(GO) test -count=1 ./...) && \
	  (cd internal/sdkcheck && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 10m ./...) && \
	  $(GO) test -race -count=1 -timeout 30m ./...

tidy: ## Fail if go mod tidy would change go.mod or go.sum of any module.
	@for m in $(MODULES); do \
	  (cd $$m && $(GO) mod tidy -diff) || { echo "go mod tidy would change $$m/go.mod (diff above): run it there"; exit 1; }; \
	done

services: ## Make Redis and PostgreSQL+pgvector available; prints the TEST_* exports.
	@scripts/services.sh

fmt: ## gofmt -w every Go file.
	@gofmt -w $$(git ls-files '*.go')

vet: ## go vet ./...
	@$(GO) vet ./...

lint: ## go vet plus staticcheck at a pinned version (run through go run).
	@$(GO) vet ./...
	@$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

bench: ## Run the benchmarks; the whole-job ones (internal/chaos) rewrite their section of BENCHMARKS.md.
	@$(SERVICES) && $(GO) test -run '^$$' -bench . -benchmem -count=1 $$($(GO) list ./... | grep -v /internal/chaos) && \
	  BENCH_MD=$(CURDIR)/BENCHMARKS.md $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./internal/chaos/

chaos: ## The fault-injection suite in its long form: whole corpus, 60 s 429 storm (make test runs the short form).
	@$(SERVICES) && CHAOS=long $(GO) test -count=1 -v -run '^TestChaos$$' -timeout 60m ./internal/chaos/

build: ## Build the commands into ./bin.
	@mkdir -p bin && $(GO) build -o bin/ ./cmd/...

image: ## Build the image cobatch:$(VERSION) and cobatch:latest (docker; without an engine, podman from the host's binaries).
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
	  docker build --build-arg VERSION=$(VERSION) -t cobatch:$(VERSION) -t cobatch:latest . ; \
	else \
	  scripts/image-offline.sh $(VERSION); \
	fi
