# Run `make` (or `make help`) for the list of targets.
SHELL := /bin/bash
GO ?= go
STATICCHECK_VERSION := v0.8.2
# Services are found or started by scripts/services.sh, which prints the
# TEST_REDIS_URL and TEST_DATABASE_URL exports the tests read.
SERVICES := eval "$$(scripts/services.sh)"

.DEFAULT_GOAL := help
.PHONY: help test services fmt vet lint bench build chaos

help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

test: ## Start/check the services, then gofmt, go vet and go test -race ./..., and the official-SDK check module (what CI runs).
	@$(SERVICES) && \
	  unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi && \
	  $(GO) vet ./... && \
	  $(GO) test -race -count=1 -timeout 30m ./... && \
	  (cd internal/sdkcheck && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 10m ./...)

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
