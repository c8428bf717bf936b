SHELL := /bin/bash
# task-messenger — the two commands that matter: `make run` and `make test`.
GO        ?= go
BENCHTIME ?= 1s
ARTIFACTS ?= artifacts
BIN       := $(CURDIR)/bin
GOROOT    := $(shell $(GO) env GOROOT)
WASM      := static/taskmessenger.wasm
# The go test exec wrapper that runs GOOS=js tests in headless Chromium.
WASMEXEC  := $(BIN)/wasmbrowsertest
# axe-core, for the accessibility checks of the end-to-end tests (e2e/a11y_test.go).
AXE       := tools/axe/node_modules/axe-core/axe.min.js
# hypercore 10, for the side-by-side benchmark (tools/hyperbench).
HYPERCORE := tools/hyperbench/node_modules/hypercore/package.json
# Packages whose tests also run in the browser (on IndexedDB).
WASM_PKGS := ./wasm/store/idb/ ./wasm/journal/ ./wasm/replication/ ./wasm/vault/ ./wasm/internal/jsutil/

.PHONY: all build wasm wasmsize test check unit browser e2e e2e-rtc soak-short bench soak run clean chromium

all: build

## build: compile everything and the browser module (static/taskmessenger.wasm)
build: wasm
	$(GO) build ./...

wasm:
	$(GO) run ./tools/wasmbuild -o $(WASM)
	cp $(GOROOT)/lib/wasm/wasm_exec.js static/wasm_exec.js
	$(GO) run ./tools/precompress $(WASM)

## wasmsize: where the module's bytes go, by Go module and package
wasmsize:
	$(GO) run ./tools/wasmsize ./wasm/cmd/taskmessenger

## test: format check, vet (native and js/wasm), every test with -race, the
## same suites in headless Chromium on IndexedDB, and the end-to-end tests
test: check unit browser e2e e2e-rtc soak-short

check:
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./wasm/... ./relay/... ./internal/...

unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /e2e)

browser: chromium $(WASMEXEC)
	GOOS=js GOARCH=wasm $(GO) test -count=1 -exec=$(WASMEXEC) $(WASM_PKGS) 2>&1 | grep -v 'IPAddressSpace'; exit $${PIPESTATUS[0]}

e2e: chromium $(AXE)
	$(GO) test -count=1 -timeout 30m ./e2e/

## axe-core from the npm registry, the version tools/axe/package-lock.json pins
$(AXE): tools/axe/package.json tools/axe/package-lock.json
	npm ci --prefix tools/axe --no-audit --no-fund
	touch $@

## e2e-rtc: the WebRTC tests (tabs, and a native peer with a tab) inside a
## private network namespace with only loopback: WebRTC never sees a real address
e2e-rtc: chromium
	$(GO) test -c -o $(BIN)/e2e.test ./e2e/
	./tools/rtc-netns.sh $(BIN)/e2e.test -test.count=1 -test.run 'WebRTC|NativePeer' -test.v 2>&1 | grep -E '^(=== RUN|--- |PASS|FAIL|ok)|Error'; exit $${PIPESTATUS[0]}

## hypercore 10 and random-access-memory, as tools/hyperbench/package-lock.json
## pins, for the side-by-side benchmark (tools/hyperbench)
$(HYPERCORE): tools/hyperbench/package.json tools/hyperbench/package-lock.json
	npm ci --prefix tools/hyperbench --no-audit --no-fund
	touch $@

## chromium: install Debian's Chromium when it is missing
chromium:
	@command -v chromium >/dev/null 2>&1 || { echo "installing chromium"; apt-get update && apt-get install -y chromium; }

$(WASMEXEC):
	GOBIN=$(BIN) $(GO) install github.com/agnivade/wasmbrowsertest@v0.11.0

fmt:
	gofmt -w .

## bench: the benchmarks, printed as a table (also in $(ARTIFACTS)/bench.md);
## the browser ones in e2e run once each (BENCH_ROOM_SIZE=… to shrink the big room,
## BENCH_MIRROR_BOOKS=1000,10000 for the mirror's books); the rows of package
## hypercore are hypercore 10 and our journal side by side (tools/hyperbench)
bench: chromium $(WASMEXEC) $(HYPERCORE)
	@mkdir -p $(ARTIFACTS)
	$(GO) test -c -o $(BIN)/e2e.test ./e2e/
	{ $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $$($(GO) list ./... | grep -v /e2e) ; \
	  $(GO) run ./tools/hyperbench -benchtime $(BENCHTIME) ; \
	  $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./e2e/ ; \
	  ./tools/rtc-netns.sh $(BIN)/e2e.test -test.run '^$$' -test.bench 'WebRTC' -test.benchtime 1x | sed 's|^pkg: .*|pkg: e2e-netns|' ; \
	  GOOS=js GOARCH=wasm $(GO) test -run '^$$' -bench 'AppendSingle$$|AppendBatch100|ReadLast50|Write101|Search100k' -benchtime 200x \
	    -exec=$(WASMEXEC) ./wasm/journal/ ./wasm/store/idb/ ./wasm/search/ | sed 's|^pkg: .*/|pkg: browser-|' ; \
	  GOOS=js GOARCH=wasm $(GO) test -run '^$$' -bench 'SessionStart1000Books' -benchtime 3x \
	    -exec=$(WASMEXEC) ./wasm/replication/ | sed 's|^pkg: .*/|pkg: browser-|' ; } 2>&1 \
		| grep -v IPAddressSpace | $(GO) run ./tools/benchtable | tee $(ARTIFACTS)/bench.md

## the module and its compressed copies, remade by make wasm when a Go file changed
$(WASM).gz: $(shell git ls-files '*.go' 2>/dev/null) go.mod go.sum
	$(MAKE) wasm

## soak-short: one minute of the soak with 12 native peers (in make test; make
## soak runs it longer, with 20); SOAK_WEB=0 leaves its browser peers out (and
## the network namespace)
soak-short: $(WASM).gz chromium
	$(GO) test -c -o $(BIN)/soak.test ./tools/soak/
	cd tools/soak && SOAK_MINUTES=1 SOAK_PEERS=12 $(SOAKRUN) -test.count=1 -test.timeout 10m -test.run 'TestSoak$$|TestTabClient'

## soak: the soak (tools/soak): three relay nodes, two mirrors, SOAK_PEERS native
## peers (default 20) and browser peers (four profiles in headless Chromium,
## WebRTC on, inside a private network namespace) under a seeded schedule of
## messages and failures for SOAK_MINUTES (default 10); SOAK_SEED=… replays a
## schedule; writes artifacts/soak.md
SOAK_MINUTES ?= 10
SOAK_PEERS ?= 20
SOAKRUN = $(if $(filter 0,$(SOAK_WEB)),,../rtc-netns.sh) $(BIN)/soak.test
soak: $(WASM).gz chromium
	$(GO) test -c -o $(BIN)/soak.test ./tools/soak/
	cd tools/soak && SOAK_MINUTES=$(SOAK_MINUTES) SOAK_PEERS=$(SOAK_PEERS) $(if $(SOAK_SEED),SOAK_SEED=$(SOAK_SEED)) $(SOAKRUN) -test.count=1 -test.timeout 0 -test.run 'TestSoak$$' -test.v

## run: build, start devtools, the relay serving the page and a mirror, print the URLs
run: build
	$(GO) build -o $(BIN)/relay ./relay/cmd/relay
	$(GO) build -o $(BIN)/devtools ./devtools/cmd/devtools
	$(GO) build -o $(BIN)/mirror ./relay/cmd/mirror
	@echo ""
	@echo "  Ana:      http://127.0.0.1:8080/?profile=ana"
	@echo "  Bob:      http://127.0.0.1:8080/?profile=bob"
	@echo "            (add &webrtc=1 for WebRTC data channels between tabs)"
	@echo "  devtools: http://127.0.0.1:8081/"
	@echo "  relay:    ws://127.0.0.1:8080/relay   (metrics: http://127.0.0.1:8080/metrics)"
	@echo "  debug:    http://127.0.0.1:8080/debug.html?profile=ana"
	@echo "  mirror:   data in ./mirror-data   (metrics: http://127.0.0.1:8082/metrics); pages pin their sealed books to it (PIN_MIRROR=0: not)"
	@echo ""
	@./tools/run.sh $(BIN)

clean:
	rm -rf $(ARTIFACTS) $(BIN) static/taskmessenger.wasm* static/wasm_exec.js mirror-data tools/axe/node_modules
