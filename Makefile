# repops. Every go command builds with the dbstat virtual table compiled
# into SQLite (table and index sizes in bytes and pages).
export GOFLAGS := -tags=sqlite_dbstat
export CGO_ENABLED := 1

BIN := bin/repops

.PHONY: build run test bench lint deps

build:
	go build -o $(BIN) ./cmd/repops

# The demo: a demo database, the simulated service on loopback, the console.
run: build
	./$(BIN) demo

test: build
	go test -count=1 -timeout 14m ./...

bench: build
	go test -run '^$$' -bench . -benchtime 1x -timeout 30m ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
