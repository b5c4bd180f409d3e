package db_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/sim"
)

// bench1M is the 1M-appeal demo database the benchmarks share, generated
// once per test binary (and removed by TestMain). The generator is sim's,
// which imports db: these benchmarks are in the external test package.
var bench1M struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func shared1M(b *testing.B) string {
	b.Helper()
	bench1M.once.Do(func() {
		bench1M.dir, bench1M.err = os.MkdirTemp("", "repops-bench-")
		if bench1M.err != nil {
			return
		}
		bench1M.path = filepath.Join(bench1M.dir, "architect.db")
		_, bench1M.err = sim.GenerateDemo(context.Background(), bench1M.path,
			sim.DemoOptions{Appeals: 1_000_000, Seed: 1, Now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}, nil)
	})
	if bench1M.err != nil {
		b.Fatal(bench1M.err)
	}
	return bench1M.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bench1M.dir != "" {
		os.RemoveAll(bench1M.dir)
	}
	os.Exit(code)
}

// BenchmarkTableSizes1M measures table and index sizes (estimated rows,
// dbstat bytes) on the 1M-appeal demo database, with the file
// memory-mapped and without (SizeOptions.NoMmap), and how far each raised
// the process's resident memory (VmHWM, reset before, less VmRSS then:
// Linux only); the time bound is well under a second with the mapping.
func BenchmarkTableSizes1M(b *testing.B) {
	path := shared1M(b)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		o    db.SizeOptions
	}{{"mmap", db.SizeOptions{}}, {"no-mmap", db.SizeOptions{NoMmap: true}}} {
		b.Run(c.name, func(b *testing.B) {
			r, err := db.OpenRead(ctx, path, db.Options{CacheSize: -1024})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			base := resetPeakRSS()
			b.ResetTimer()
			var took time.Duration
			for i := 0; i < b.N; i++ {
				s, err := db.TableSizes(ctx, r, path, c.o)
				if err != nil {
					b.Fatal(err)
				}
				took += s.Took
			}
			b.ReportMetric(took.Seconds()/float64(b.N), "s/sizes")
			if _, hwm := procRSS(); hwm > 0 && base > 0 {
				b.ReportMetric(float64(hwm-base)/(1<<20), "rss-growth-MB")
			}
		})
	}
}

// resetPeakRSS resets the process's VmHWM to its current resident size,
// which it returns (bytes; 0 when unknown).
func resetPeakRSS() int64 {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	rss, _ := procRSS()
	return rss
}

// procRSS is the process's VmRSS and VmHWM in bytes, 0 when unknown.
func procRSS() (rss, hwm int64) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			hwm = kb << 10
		}
	}
	return rss, hwm
}

// BenchmarkValidate1M measures schema validation on the 1M-appeal demo
// database: it reads the schema only, so its size should not matter.
func BenchmarkValidate1M(b *testing.B) {
	path := shared1M(b)
	ctx := context.Background()
	r, err := db.OpenRead(ctx, path, db.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rep, err := db.Validate(ctx, r)
		if err != nil || !rep.OK() {
			b.Fatal(err, rep)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/validate")
}
