# task-messenger — the two commands that matter: `make run` and `make test`.
GO       ?= go
BENCHTIME ?= 1s
ARTIFACTS ?= artifacts

.PHONY: all build test check fmt vet unit bench run clean

all: build

## build: compile everything that exists so far
build:
	$(GO) build ./...

## test: format check, vet, and every test with the race detector
test: check unit

check:
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

fmt:
	gofmt -w .

## bench: run the benchmarks and print them as a table (also in $(ARTIFACTS)/bench.md)
bench:
	@mkdir -p $(ARTIFACTS)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./... 2>&1 \
		| $(GO) run ./tools/benchtable | tee $(ARTIFACTS)/bench.md

## run: start the whole thing and print the URLs to open
run: build
	@echo "make run: not yet — the relay and the page arrive with the browser and IO issues."
	@echo "Today the journal is a Go library: see README.md and 'make test'."

clean:
	rm -rf $(ARTIFACTS) bin
