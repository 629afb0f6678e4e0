# The two commands a newcomer needs: `make demo` and `make test`.
GO ?= go
BIN := bin/apiscope

.PHONY: all build deps test test-short demo bench fuzz vet fmt clean

all: build

deps:
	@scripts/deps.sh

build:
	$(GO) build -o $(BIN) ./cmd/apiscope

# Every test, with the services they need (a ClickHouse server and an in-process Kafka
# broker are started by the tests themselves).
test: deps
	scripts/test.sh

# Unit tests only: no services, no race detector.
test-short:
	$(GO) test -short ./...

demo: deps build
	scripts/demo.sh

bench: deps build
	scripts/bench.sh

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
