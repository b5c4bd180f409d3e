package metrics

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// The replication panels, from Litestream's own Prometheus metrics
// (LitestreamSource). Litestream runs as its own process beside the
// service ('litestream replicate'); repops only reads its /metrics.
const (
	PanelReplicationLag = "replication_lag"       // s: the RPO figure, see LitestreamSource
	PanelLastSyncAge    = "replication_last_sync" // s since Litestream's newest successful sync
	PanelReplicationWAL = "replication_wal_size"  // MiB of WAL Litestream has read
	PanelReplicaErrors  = "replica_errors"        // errors per minute, last minute
)

// The Litestream v0.5.18 metric families the panels use (db.go, store.go
// and internal/internal.go of github.com/benbjohnson/litestream). Every
// family but the replica operation errors is labelled db="<path>".
// Litestream exports no replica position and no time of the last upload:
// see LitestreamSource for what the lag is computed from.
const (
	LitestreamSyncCount       = "litestream_sync_count"       // counter: syncs of the WAL into Litestream's LTX files, one per monitor interval (1 s)
	LitestreamSyncErrors      = "litestream_sync_error_count" // counter: those that failed
	LitestreamWALSize         = "litestream_wal_size"         // gauge: bytes of the WAL synced (its offset)
	LitestreamTXID            = "litestream_txid"             // gauge: newest LTX transaction id
	LitestreamCheckpointErrs  = "litestream_checkpoint_error_count"
	LitestreamCompactVerify   = "litestream_compaction_verify_error_count"
	LitestreamReplicaOpErrors = "litestream_replica_operation_errors_total" // labels replica_type, operation, code
	LitestreamValidations     = "litestream_validation_checks_total"        // labels db, level, result
)

// litestreamErrorFamilies are the error counters the replica_errors panel
// adds up (validation checks only where result is not "success").
var litestreamErrorFamilies = []string{LitestreamSyncErrors, LitestreamCheckpointErrs, LitestreamCompactVerify, LitestreamReplicaOpErrors, LitestreamValidations}

// What the replication panels say when Litestream does not answer: how to
// start it, and (the binary missing) how to install it.
const (
	LitestreamStartHint   = "start it: litestream replicate -config <file> ('repops replicate config' writes it)"
	LitestreamInstallHint = "not installed: make litestream"
)

// LitestreamOptions configure a Litestream source.
type LitestreamOptions struct {
	// URL is Litestream's metrics endpoint, http://addr/metrics.
	URL string
	// DBPath, when set, restricts the panels to that database's series
	// (Litestream's db label is the path from its config); "" takes every
	// database Litestream replicates (the worst of them).
	DBPath string
	// Client does the requests. Default: a client with a 2 s timeout.
	Client *http.Client
	// MaxBodyBytes caps the body. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Installed reports whether the litestream binary is installed, for
	// the hint when it does not answer. Default: litestream on PATH or
	// beside the repops executable (bin/).
	Installed func() bool
}

// LitestreamSource scrapes Litestream's own /metrics and computes the
// replication panels.
//
// Decision, the lag: Litestream v0.5.18 exports no replica position and no
// time of its last upload (its txid gauge is its own newest LTX file, the
// replica's is not exported), so the lag cannot be "the database's txid
// against the replica's" from its metrics. What it does export is a count
// of its syncs (litestream_sync_count) and of the failed ones
// (litestream_sync_error_count): Litestream syncs the database's WAL into
// its LTX files every monitor interval (1 s) whether or not anything was
// written, and its replicas ship those files every sync interval (1 s). So
// a successful sync is one litestream_sync_count counts and
// litestream_sync_error_count does not, seen as the first rising more than
// the second between two scrapes (timed at the scrape that sees it, so to
// within a cycle), and
//
//	replication lag = now − the newest successful sync
//
// the writes committed since then are the ones a loss of the host now
// would lose (plus at most one replica sync interval): the guide's RPO
// figure. Healthy, it stays within a cycle or two of 0 s. When Litestream
// stops answering after a sync was seen, the lag keeps growing with the
// clock (a known figure: the alert fires, as it must when nothing is
// shipped any more); before any sync was seen it is unknown, with the
// reason. "Last sync" (replication_last_sync) is the same age but only as
// long as Litestream answers: unknown, with the reason, when it does not.
// The replica side (uploads to sftp or S3) is not in Litestream's metrics
// beyond its operation errors; 'repops replicate check' reads the
// replica's own newest position.
type LitestreamSource struct {
	opts LitestreamOptions

	mu sync.Mutex
	// per database (db label): the previous scrape's counts and the time
	// of the newest successful sync seen.
	dbs map[string]*lsDB
	// errs are the error counters' totals of the scrapes of the last
	// minute, oldest first, for the errors' rate.
	errs []lsErrPoint
}

type lsDB struct {
	syncs, errs float64
	lastOK      time.Time
}

type lsErrPoint struct {
	t     time.Time
	total float64
}

var _ Source = (*LitestreamSource)(nil)

// NewLitestreamSource builds a Litestream source for o.URL.
func NewLitestreamSource(o LitestreamOptions) (*LitestreamSource, error) {
	if _, err := ParseHTTPURL("litestream metrics url", o.URL, "http://host:port/metrics", false); err != nil {
		return nil, err
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 2 * time.Second}
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Installed == nil {
		o.Installed = litestreamInstalled
	}
	return &LitestreamSource{opts: o, dbs: map[string]*lsDB{}}, nil
}

// LitestreamURL is Litestream's metrics endpoint for its listener addr
// (host:port): http://addr/metrics.
func LitestreamURL(addr string) string {
	if addr == "" {
		addr = "127.0.0.1:9092"
	}
	return "http://" + addr + "/metrics"
}

// litestreamInstalled: litestream on PATH, or beside the repops
// executable (make litestream builds it into bin/).
func litestreamInstalled() bool {
	if _, err := exec.LookPath("litestream"); err == nil {
		return true
	}
	if exe, err := os.Executable(); err == nil {
		if fi, err := os.Stat(filepath.Join(filepath.Dir(exe), "litestream")); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// Name implements Source.
func (s *LitestreamSource) Name() string { return "litestream" }

// Kind implements Source.
func (s *LitestreamSource) Kind() string { return KindLitestream }

// Target implements Source.
func (s *LitestreamSource) Target() string { return s.opts.URL }

// Collect scrapes Litestream once. When it does not answer, the error and
// every panel say it is not running (and how to install it when the
// binary is missing); the lag keeps growing from the newest sync seen.
func (s *LitestreamSource) Collect(ctx context.Context, now time.Time) (Result, error) {
	fams, err := s.fetch(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		reason := "Litestream is not running (" + reasonLine(err.Error()) + "): " + LitestreamStartHint
		if !s.opts.Installed() {
			reason += "; " + LitestreamInstallHint
		}
		s.errs = nil
		lag := Unknown(reason)
		if last := s.oldestLastOK(); !last.IsZero() {
			lag = Known(math.Max(0, now.Sub(last).Seconds()))
		}
		return Result{Panels: map[string]Value{
			PanelReplicationLag: lag,
			PanelLastSyncAge:    Unknown(reason),
			PanelReplicationWAL: Unknown(reason),
			PanelReplicaErrors:  Unknown(reason),
		}}, fmt.Errorf("%s", reason)
	}
	return Result{Panels: s.compute(fams, now)}, nil
}

// oldestLastOK is the oldest of the databases' newest successful syncs
// (the worst lag); zero when none was seen.
func (s *LitestreamSource) oldestLastOK() time.Time {
	var t time.Time
	for _, d := range s.dbs {
		if d.lastOK.IsZero() {
			continue
		}
		if t.IsZero() || d.lastOK.Before(t) {
			t = d.lastOK
		}
	}
	return t
}

func (s *LitestreamSource) fetch(ctx context.Context) (map[string]*dto.MetricFamily, error) {
	return fetchTextFamilies(ctx, s.opts.Client, s.opts.URL, s.opts.MaxBodyBytes, "Litestream's metrics (its addr)")
}

// byDB sums family's series per db label (Litestream has one series per
// database; the sum is over other labels, such as a validation's level).
func byDB(fams map[string]*dto.MetricFamily, family string, keep func(*dto.Metric) bool) map[string]float64 {
	out := map[string]float64{}
	mf := fams[family]
	if mf == nil {
		return out
	}
	for _, m := range mf.GetMetric() {
		if keep != nil && !keep(m) {
			continue
		}
		v := scalarOf(m)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		out[labelValue(m, "db")] += v
	}
	return out
}

func labelValue(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// samePath reports whether Litestream's db label names path.
func samePath(label, path string) bool {
	if label == path {
		return true
	}
	a, err1 := filepath.Abs(label)
	b, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return false
	}
	if a == b {
		return true
	}
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

// compute derives the panels from one answer. Called with s.mu held.
func (s *LitestreamSource) compute(fams map[string]*dto.MetricFamily, now time.Time) map[string]Value {
	out := map[string]Value{}
	syncs := byDB(fams, LitestreamSyncCount, nil)
	errsN := byDB(fams, LitestreamSyncErrors, nil)
	wal := byDB(fams, LitestreamWALSize, nil)

	// The databases to judge: this one when it is replicated.
	var names []string
	for db := range syncs {
		names = append(names, db)
	}
	sort.Strings(names)
	if s.opts.DBPath != "" {
		var mine []string
		for _, db := range names {
			if samePath(db, s.opts.DBPath) {
				mine = append(mine, db)
			}
		}
		if len(mine) == 0 {
			why := "Litestream answers but does not replicate " + s.opts.DBPath
			if len(names) > 0 {
				why += " (it replicates " + strings.Join(names, ", ") + ")"
			} else {
				why += " (no " + LitestreamSyncCount + " series: no database in its config)"
			}
			why += ": " + LitestreamStartHint
			for _, p := range []string{PanelReplicationLag, PanelLastSyncAge, PanelReplicationWAL, PanelReplicaErrors} {
				out[p] = Unknown(why)
			}
			return out
		}
		names = mine
	}
	if len(names) == 0 {
		why := "Litestream answers but replicates no database (no " + LitestreamSyncCount + " series)"
		for _, p := range []string{PanelReplicationLag, PanelLastSyncAge, PanelReplicationWAL, PanelReplicaErrors} {
			out[p] = Unknown(why)
		}
		return out
	}
	judged := map[string]bool{}
	for _, n := range names {
		judged[n] = true
	}

	// The lag: the oldest of the judged databases' newest successful sync.
	lag, unseen := 0.0, ""
	for _, db := range names {
		cur, curErr := syncs[db], errsN[db]
		d, seen := s.dbs[db]
		if !seen {
			d = &lsDB{}
			s.dbs[db] = d
		} else {
			ds, de := cur-d.syncs, curErr-d.errs
			if cur < d.syncs { // Litestream restarted: its counters began again
				ds, de = cur, curErr
			}
			if de < 0 {
				de = curErr
			}
			if ds > de {
				d.lastOK = now
			}
		}
		d.syncs, d.errs = cur, curErr
		if d.lastOK.IsZero() {
			if !seen {
				unseen = "one scrape of Litestream so far: the lag needs two (a successful sync is seen as its sync count rising)"
			} else if unseen == "" {
				unseen = fmt.Sprintf("no successful sync of %s since repops began watching (%s rises with %s)", db, LitestreamSyncErrors, LitestreamSyncCount)
			}
			continue
		}
		lag = math.Max(lag, now.Sub(d.lastOK).Seconds())
	}
	for db := range s.dbs {
		if _, ok := syncs[db]; !ok {
			delete(s.dbs, db) // gone from Litestream's config
		}
	}
	if unseen != "" {
		out[PanelReplicationLag] = Unknown(unseen)
		out[PanelLastSyncAge] = Unknown(unseen)
	} else {
		out[PanelReplicationLag] = Known(lag)
		out[PanelLastSyncAge] = Known(lag)
	}

	// The WAL: the largest of the judged databases', in MiB.
	w, found := 0.0, false
	for _, db := range names {
		if v, ok := wal[db]; ok {
			w, found = math.Max(w, v), true
		}
	}
	if found {
		out[PanelReplicationWAL] = Known(w / (1 << 20))
	} else {
		out[PanelReplicationWAL] = Unknown(LitestreamWALSize + " missing from Litestream's metrics")
	}

	// The errors: every error counter of the judged databases (the replica
	// operations' errors carry no db label: all of them), per minute over
	// the last minute, counter resets (a restart) taken as such.
	total := 0.0
	for _, fam := range litestreamErrorFamilies {
		var keep func(*dto.Metric) bool
		if fam == LitestreamValidations {
			keep = func(m *dto.Metric) bool { return labelValue(m, "result") != "success" }
		}
		for db, v := range byDB(fams, fam, keep) {
			if fam == LitestreamReplicaOpErrors || judged[db] {
				total += v
			}
		}
	}
	s.errs = append(s.errs, lsErrPoint{t: now, total: total})
	cut := 0
	for cut < len(s.errs)-1 && (now.Sub(s.errs[cut].t) > FastWindow || len(s.errs)-cut > maxFastPoints) {
		cut++
	}
	if cut > 0 {
		s.errs = append(s.errs[:0:0], s.errs[cut:]...)
	}
	if len(s.errs) < minSamplesForRate {
		out[PanelReplicaErrors] = Unknown("one scrape of Litestream so far: a rate needs two")
		return out
	}
	inc := 0.0
	for i := 1; i < len(s.errs); i++ {
		if d := s.errs[i].total - s.errs[i-1].total; d >= 0 {
			inc += d
		} else {
			inc += s.errs[i].total // reset
		}
	}
	span := s.errs[len(s.errs)-1].t.Sub(s.errs[0].t).Seconds()
	if span <= 0 {
		out[PanelReplicaErrors] = Unknown("two scrapes of Litestream at the same time: no rate")
		return out
	}
	out[PanelReplicaErrors] = Known(60 * inc / span)
	return out
}
