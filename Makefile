# Run `make` (or `make help`) for the list of targets.
SHELL := /bin/bash
GO ?= go
STATICCHECK_VERSION := v0.8.2
# Services are found or started by scripts/services.sh, which prints the
# TEST_REDIS_URL and TEST_DATABASE_URL exports the tests read.
SERVICES := eval "$$(scripts/services.sh)"

.DEFAULT_GOAL := help
.PHONY: help test services fmt vet lint bench build

help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

test: ## Start/check the services, then gofmt, go vet and go test -race ./... (what CI runs).
	@$(SERVICES) && \
	  unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi && \
	  $(GO) vet ./... && \
	  $(GO) test -race -count=1 -timeout 30m ./...

services: ## Make Redis and PostgreSQL+pgvector available; prints the TEST_* exports.
	@scripts/services.sh

fmt: ## gofmt -w every Go file.
	@gofmt -w $$(git ls-files '*.go')

vet: ## go vet ./...
	@$(GO) vet ./...

lint: ## go vet plus staticcheck at a pinned version (run through go run).
	@$(GO) vet ./...
	@$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

bench: ## Run the benchmarks (see BENCHMARKS.md for how results are recorded).
	@$(SERVICES) && $(GO) test -run '^$$' -bench . -benchmem -count=1 ./...

build: ## Build the commands into ./bin.
	@mkdir -p bin && $(GO) build -o bin/ ./cmd/...
