# repops. Every go command builds with the dbstat virtual table compiled
# into SQLite (table and index sizes in bytes and pages).
export GOFLAGS := -tags=sqlite_dbstat
export CGO_ENABLED := 1

BIN := bin/repops

.PHONY: build run test bench soak lint deps

build:
	go build -o $(BIN) ./cmd/repops

# The demo: a demo database, the simulated service on loopback, the console.
run: build
	./$(BIN) demo

test: build
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
