# repops. Every go command builds with the dbstat virtual table compiled
# into SQLite (table and index sizes in bytes and pages).
export GOFLAGS := -tags=sqlite_dbstat
export CGO_ENABLED := 1

BIN := bin/repops

# Litestream, pinned (replicate.Version): continuous WAL replication, run
# as its own process beside the service, never linked into repops. Built
# from the Go module into bin/ (about 80 s the first time); a no-op while
# bin/litestream is that version (and bin/.litestream-VERSION, the stamp
# of the build, is there). Its own build flags: no sqlite_dbstat tag, no
# VCS stamping.
LITESTREAM_VERSION := v0.5.18
LITESTREAM := bin/litestream
LITESTREAM_STAMP := bin/.litestream-$(LITESTREAM_VERSION)

.PHONY: build run test bench soak lint deps litestream

build:
	go build -o $(BIN) ./cmd/repops

litestream:
	@mkdir -p bin
	@if [ -x $(LITESTREAM) ] && [ "$$(./$(LITESTREAM) version 2>/dev/null)" = "$(LITESTREAM_VERSION)" ] && [ -f $(LITESTREAM_STAMP) ]; then :; else \
		echo "building $(LITESTREAM) $(LITESTREAM_VERSION) from the Go module (about 80 s the first time)"; \
		GOFLAGS=-buildvcs=false CGO_ENABLED=1 GOBIN=$(abspath bin) go install github.com/benbjohnson/litestream/cmd/litestream@$(LITESTREAM_VERSION) || { \
			echo "could not build Litestream $(LITESTREAM_VERSION) (no network to the Go module proxy?): the tests that need it will fail; install it with: go install github.com/benbjohnson/litestream/cmd/litestream@$(LITESTREAM_VERSION), then put it on PATH or set REPOPS_LITESTREAM" >&2; exit 1; }; \
		rm -f bin/.litestream-v*; touch $(LITESTREAM_STAMP); \
	fi

# The demo: a demo database, the simulated service on loopback, the console.
# Litestream first (the demo replicates into data/demo/replica/); without
# it (no network to build it) the demo still runs and says how to install it.
run: build
	-@$(MAKE) --no-print-directory litestream
	./$(BIN) demo

# Litestream first: the replication tests run the real one. If it cannot
# be built (no network), the other tests still run and those fail saying
# how to install it.
test: build
	-@$(MAKE) --no-print-directory litestream
	go test -count=1 -timeout 14m ./...

bench: build
	go test -run '^$$' -bench . -benchtime 1x -timeout 30m ./...

# The foreign-process soak: 1,008 mutating procedure runs beside a writer
# in another process, with the writer's latency per procedure (chaos/).
soak: build
	go test ./chaos/ -run '^$$' -bench Soak -benchtime 112x -timeout 60m

# gofmt on every Go file of the tree (tracked or new, not ignored), then vet.
lint:
	@files=$$(git ls-files --cached --others --exclude-standard '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*'); \
	out=$$(gofmt -l $$files); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
