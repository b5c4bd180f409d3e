package ops

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/testsupport"
)

// BenchmarkOptimizeCosts measures, on this machine, the write-lock time of
// each optimisation per MiB of database and sets it beside the rates that
// EstimateCost uses by default (the guide's figures on 482 MB), so that an
// operator can pass CostRates calibrated to the host.
//
//	go test -tags sqlite_dbstat -run '^$' -bench OptimizeCosts -benchtime 1x ./ops/
func BenchmarkOptimizeCosts(b *testing.B) {
	path := testsupport.MigratedDB(b)
	seedAppeals(b, path, seedSpec{Old: 300000, Mid: 50000, New: 50000})
	checkpointTruncate(b, path)
	ctx := context.Background()
	files, err := db.StatFiles(path)
	if err != nil {
		b.Fatal(err)
	}
	mib := float64(files.DB) / (1 << 20)
	def := DefaultCostRates()
	w, err := db.OpenWrite(ctx, path, db.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	steps := []struct {
		name    string
		sql     []string
		perMiB  float64
		cleanup string
	}{
		{"ANALYZE", []string{`ANALYZE`}, def.AnalyzePerMiB, ""},
		{"REINDEX", []string{`REINDEX`}, def.ReindexPerMiB, ""},
		{"CREATE INDEX", []string{`CREATE INDEX bench_idx ON appeals(reason, created_at)`}, def.CreateIndexPerMiB, `DROP INDEX bench_idx`},
		{"VACUUM", []string{`VACUUM`}, def.VacuumPerMiB, ""},
	}
	for i := 0; i < b.N; i++ {
		for _, s := range steps {
			t0 := time.Now()
			for _, q := range s.sql {
				if _, err := w.ExecContext(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
			d := time.Since(t0)
			if s.cleanup != "" {
				if _, err := w.ExecContext(ctx, s.cleanup); err != nil {
					b.Fatal(err)
				}
			}
			rate := d.Seconds() / mib
			b.Logf("%-12s %8s on %.0f MiB: %.4f s/MiB here, default %.4f s/MiB (x%.2f); on 482 MB: %.2f s",
				s.name, d.Round(time.Millisecond), mib, rate, s.perMiB, rate/s.perMiB, rate*482e6/(1<<20))
			b.ReportMetric(rate*1000, strings.ReplaceAll(s.name, " ", "_")+"-ms/MiB")
		}
	}
}
