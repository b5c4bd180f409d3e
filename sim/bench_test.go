package sim

import (
	"context"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/testsupport"
)

// BenchmarkStep is one generator tick of the default load (200 ms of
// normal traffic at speed 1): the simulator's CPU per tick; five ticks a
// second is its steady cost.
func BenchmarkStep(b *testing.B) {
	o := testOptions(testsupport.MigratedDB(b))
	o.Speed = 1
	s, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		s.step(ctx, 200*time.Millisecond)
	}
}

// BenchmarkScrape is one scrape of /metrics over loopback and its parse,
// as the console does every refresh.
func BenchmarkScrape(b *testing.B) {
	s := startSim(b, testOptions(testsupport.MigratedDB(b)))
	time.Sleep(200 * time.Millisecond)
	url := s.MetricsURL()
	b.ResetTimer()
	for range b.N {
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		if _, err := p.TextToMetricFamilies(resp.Body); err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// BenchmarkLoad runs the simulator at speed 1 for 5 s per scenario and
// reports its CPU share of one core (this process: the generator, the
// writer, SQLite), the rows it wrote per second and how fast the database
// file grew.
func BenchmarkLoad(b *testing.B) {
	for _, sc := range []string{ScenarioNormal, ScenarioAppealFlood, ScenarioDBGrowth} {
		b.Run(sc, func(b *testing.B) {
			for range b.N {
				path := testsupport.MigratedDB(b)
				o := testOptions(path)
				o.Speed, o.Tick, o.Scenario = 1, 0, sc
				size0 := dbSize(b, path)
				cpu0, wall0 := cpuTime(), time.Now()
				s, err := New(o)
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if err := s.Run(ctx); err != nil {
					b.Fatal(err)
				}
				cancel()
				wall := time.Since(wall0).Seconds()
				st := s.Stats()
				b.ReportMetric(100*(cpuTime()-cpu0).Seconds()/wall, "cpu%")
				b.ReportMetric(float64(st.Rows)/wall, "rows/s")
				b.ReportMetric(float64(dbSize(b, path)-size0)/wall/1024, "KiB/s")
				b.ReportMetric(float64(st.WorstWriteLatency.Microseconds())/1000, "worst-write-ms")
			}
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func dbSize(b *testing.B, path string) int64 {
	fs, err := db.StatFiles(path)
	if err != nil {
		b.Fatal(err)
	}
	return fs.DB + fs.WAL
}
