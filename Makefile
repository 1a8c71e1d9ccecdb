# ws6455 — everything a newcomer needs is `make demo` and `make test`.
GO        ?= go
FUZZTIME  ?= 20s
BENCHTIME ?= 1s
COUNT     ?= 6
WS_MODEL_ITER ?= 2000
SOAKFLAGS ?= -v
PKGS      := ./...

.PHONY: all test race stack vet lint fuzz bench demo autobahn conformance conformance-h2 peers cluster soak

all: test

## test: what CI runs — vet, formatting, every test under the race detector,
## the chat's Redis backplane (its own module), the suite checked against Node's ws,
## and the built-in Autobahn suite against our server and client (all 517 cases,
## both roles), over HTTP/1.1 and over HTTP/2.
test: lint race stack cluster peers conformance conformance-h2

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

## peers: the built-in suite against Node's ws and Python's websockets in both
## roles, every verdict compared with the real Autobahn suite's on the same
## peer (for websockets 10.4: its maintainers' documented results), and the
## sizes of the suite's writes with the real suite's.
peers:
	bash autobahn/run.sh peers

## conformance-h2: the same 517 cases in both roles over HTTP/2 (RFC 8441):
## the testee server behind Go's HTTP/2 server, the testee client dialling
## the suite over h2c; verdicts must be the same as over HTTP/1.1.
conformance-h2:
	bash autobahn/run.sh builtin-h2

## cluster: the chat's Redis backplane (module examples/chat/redis): three
## processes, kills, a Redis restart. Needs a redis-server at WS_REDIS_ADDR
## (default 127.0.0.1:6379); without one the tests skip, saying so (CI fails).
cluster:
	cd examples/chat/redis && $(GO) test -race -count=1 ./...

## autobahn: the real Autobahn testsuite in docker when a docker engine is available,
## else the built-in suite (it says which).
autobahn:
	bash autobahn/run.sh auto

## soak: thousands of connections, some misbehaving (stop reading, vanish
## mid-frame, trickle bytes, send garbage), against a realistic server for
## WS_SOAK_DURATION (default 60s) with WS_SOAK_CONNS clients (default 2000);
## then goroutines and heap must be back near where they started. Also the
## randomised model test with WS_MODEL_ITER iterations.
soak:
	WS_SOAK=1 WS_MODEL_ITER=$(WS_MODEL_ITER) $(GO) test -count=1 $(SOAKFLAGS) -run 'TestSoak|TestModel' -timeout 30m ./conn

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

## demo: the example server on http://$(ADDR) (default 127.0.0.1:8080;
## make demo ADDR=127.0.0.1:9090 for another; Ctrl-C to stop).
ADDR ?= 127.0.0.1:8080
demo:
	$(GO) run ./examples/demo -addr $(ADDR)
