# ws6455 — everything a newcomer needs is `make demo` and `make test`.
GO        ?= go
FUZZTIME  ?= 20s
BENCHTIME ?= 1s
COUNT     ?= 6
PKGS      := ./...

.PHONY: all test race stack vet lint fuzz bench demo autobahn conformance

all: test

## test: what CI runs — vet, formatting, every test under the race detector,
## and the built-in Autobahn suite against our server and client (all 517 cases, both roles).
test: lint race stack conformance

race:
	$(GO) test -race -count=1 $(PKGS)

## stack: the tests that only mean something without -race (its
## instrumentation enlarges every stack frame): an echo goroutine stays
## within a 2 KiB stack.
stack:
	$(GO) test -count=1 -run 'TestEchoGoroutineStack2KiB' ./conn

vet:
	$(GO) vet $(PKGS)

## lint: gofmt and go vet must be clean.
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## conformance: the built-in Autobahn suite, both roles, checked (no docker needed).
conformance:
	bash autobahn/run.sh builtin

## autobahn: the real Autobahn testsuite in docker when a docker engine is available,
## else the built-in suite (it says which).
autobahn:
	bash autobahn/run.sh auto

## fuzz: every fuzz target for FUZZTIME each (default 20s).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "== $$pkg $$t"; $(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; \
	done

## bench: in-process benchmarks (COUNT runs each, for benchstat).
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) -count=$(COUNT) $(PKGS)

## demo: the example server on http://127.0.0.1:8080 (Ctrl-C to stop).
demo:
	$(GO) run ./examples/demo -addr 127.0.0.1:8080
