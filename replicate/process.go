package replicate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/repops/repops/config"
	"github.com/repops/repops/internal/fsutil"
)

// Check states, in the Nagios plugin convention 'repops status' speaks.
const (
	OK       = 0
	Warning  = 1
	Critical = 2
	Unknown  = 3
)

// StatusName names a check state.
func StatusName(s int) string {
	switch s {
	case OK:
		return "OK"
	case Warning:
		return "WARNING"
	case Critical:
		return "CRITICAL"
	}
	return "UNKNOWN"
}

// WarnLag is the replication lag 'repops replicate check' calls WARNING
// for a sync interval: the guide asks for a "real-time" RPO on a partial
// failure, and Litestream ships every sync interval (after its 1 s WAL
// monitor), so up to two intervals behind is normal; beyond 5 s or two
// intervals, whichever is longer, it is falling behind. Never beyond RPO.
func WarnLag(syncInterval time.Duration) time.Duration {
	return min(max(5*time.Second, 2*syncInterval), RPO)
}

// Process is a running 'litestream replicate' found in /proc.
type Process struct {
	Pid    int    `json:"pid"`
	Config string `json:"config,omitempty"` // its config file ("" when given the database on the command line)
	Args   string `json:"args"`
}

// FindProcesses lists the running 'litestream replicate' processes that
// replicate dbPath: by the database named on their command line, or in
// their config file (-config, default /etc/litestream.yml). Processes
// whose config cannot be read are left out.
func FindProcesses(ctx context.Context, dbPath string) ([]Process, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var found []Process
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		raw, err := fsutil.ReadRegularFile(ctx, filepath.Join("/proc", e.Name(), "cmdline"), 1<<20)
		if err != nil || len(raw) == 0 {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if len(argv) < 2 || filepath.Base(argv[0]) != "litestream" || argv[1] != "replicate" {
			continue
		}
		p := Process{Pid: pid, Args: strings.Join(argv, " ")}
		conf, positional := parseReplicateArgs(argv[2:])
		if len(positional) > 0 {
			if samePath(pid, positional[0], dbPath) {
				found = append(found, p)
			}
			continue
		}
		if conf == "" {
			conf = "/etc/litestream.yml"
		}
		if !filepath.IsAbs(conf) {
			if cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd")); err == nil {
				conf = filepath.Join(cwd, conf)
			}
		}
		p.Config = conf
		if paths, err := ConfigDBPaths(ctx, conf); err == nil {
			for _, dp := range paths {
				if samePath(pid, dp, dbPath) {
					found = append(found, p)
					break
				}
			}
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Pid < found[j].Pid })
	return found, nil
}

// parseReplicateArgs reads 'litestream replicate' flags: the -config
// file and the positional arguments (DB_PATH REPLICA_URL...).
func parseReplicateArgs(args []string) (conf string, positional []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			positional = append(positional, args[i:]...)
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch name {
		case "config":
			if !hasVal && i+1 < len(args) {
				i++
				val = args[i]
			}
			conf = val
		case "exec", "log-level":
			if !hasVal {
				i++
			}
		}
	}
	return conf, positional
}

// samePath says whether p (as process pid names it) is dbPath.
func samePath(pid int, p, dbPath string) bool {
	if strings.HasPrefix(p, "~") {
		return false
	}
	if !filepath.IsAbs(p) {
		cwd, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "cwd"))
		if err != nil {
			return false
		}
		p = filepath.Join(cwd, p)
	}
	if filepath.Clean(p) == filepath.Clean(dbPath) {
		return true
	}
	a, err1 := os.Stat(p)
	b, err2 := os.Stat(dbPath)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// ConfigDBPaths are the database paths a Litestream config names (its
// dbs[].path, environment variables expanded as Litestream does).
func ConfigDBPaths(ctx context.Context, file string) ([]string, error) {
	data, err := fsutil.ReadRegularFile(ctx, file, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("read Litestream config %s: %w", file, err)
	}
	data = []byte(os.ExpandEnv(string(data)))
	var c struct {
		DBs []struct {
			Path string `yaml:"path"`
		} `yaml:"dbs"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("Litestream config %s: %w", file, err)
	}
	var out []string
	for _, d := range c.DBs {
		if d.Path != "" {
			out = append(out, d.Path)
		}
	}
	return out, nil
}

// Metrics are Litestream's own figures for one database, from its
// /metrics (names from Litestream v0.5.18's db.go and internal.go).
type Metrics struct {
	TXID            uint64  `json:"txid"`              // litestream_txid
	WALBytes        float64 `json:"wal_bytes"`         // litestream_wal_size
	DBBytes         float64 `json:"db_bytes"`          // litestream_db_size
	Syncs           float64 `json:"syncs"`             // litestream_sync_count
	SyncErrors      float64 `json:"sync_errors"`       // litestream_sync_error_count
	CheckpointErrs  float64 `json:"checkpoint_errors"` // litestream_checkpoint_error_count, every mode
	DiskFull        bool    `json:"disk_full"`         // litestream_disk_full
	ReplicaErrors   float64 `json:"replica_errors"`    // litestream_replica_operation_errors_total, every operation
	ValidationOK    *bool   `json:"validation_ok,omitempty"`
	ValidationSince float64 `json:"last_validation_success_unix,omitempty"`
}

// ErrNotReplicated is returned by ScrapeMetrics when Litestream answers
// but has no figures for the database.
var ErrNotReplicated = errors.New("Litestream's metrics name no such database")

// ScrapeMetrics reads Litestream's metrics at addr (host:port) for dbPath.
func ScrapeMetrics(ctx context.Context, addr, dbPath string) (*Metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	url := "http://" + addr + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: not the Prometheus text format: %w", url, err)
	}
	m := &Metrics{}
	seen := false
	for name, f := range fams {
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			v := s.GetGauge().GetValue() + s.GetCounter().GetValue() + s.GetUntyped().GetValue()
			if name == "litestream_replica_operation_errors_total" {
				m.ReplicaErrors += v
				continue
			}
			if labels["db"] != dbPath {
				continue
			}
			seen = true
			switch name {
			case "litestream_txid":
				m.TXID = uint64(math.Max(v, 0))
			case "litestream_wal_size":
				m.WALBytes = v
			case "litestream_db_size":
				m.DBBytes = v
			case "litestream_sync_count":
				m.Syncs = v
			case "litestream_sync_error_count":
				m.SyncErrors = v
			case "litestream_checkpoint_error_count":
				m.CheckpointErrs += v
			case "litestream_disk_full":
				m.DiskFull = v != 0
			case "litestream_last_validation_success":
				ok := v != 0
				m.ValidationOK = &ok
			case "litestream_last_validation_success_timestamp_seconds":
				m.ValidationSince = math.Max(m.ValidationSince, v)
			}
		}
	}
	if !seen {
		return nil, fmt.Errorf("%s: %w: %s", addr, ErrNotReplicated, dbPath)
	}
	return m, nil
}

// LTXFile is one LTX file of a replica ('litestream ltx -json').
type LTXFile struct {
	Level   int       `json:"level"`
	MinTXID uint64    `json:"min_txid"`
	MaxTXID uint64    `json:"max_txid"`
	Size    int64     `json:"size"`
	Created time.Time `json:"created"`
}

// ReplicaFiles lists the LTX files of the database's replica at every
// level, through 'litestream ltx -json -level all -config file dbPath'.
func ReplicaFiles(ctx context.Context, bin, file, dbPath string) ([]LTXFile, error) {
	out, err := runLitestream(ctx, bin, "ltx", "-json", "-level", "all", "-config", file, dbPath)
	if err != nil {
		return nil, err
	}
	var raw []struct {
		Level     int    `json:"level"`
		MinTXID   string `json:"min_txid"`
		MaxTXID   string `json:"max_txid"`
		Size      int64  `json:"size"`
		Timestamp string `json:"timestamp"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return nil, fmt.Errorf("litestream ltx: unexpected output: %w", err)
	}
	files := make([]LTXFile, 0, len(raw))
	for _, r := range raw {
		minT, err1 := strconv.ParseUint(r.MinTXID, 16, 64)
		maxT, err2 := strconv.ParseUint(r.MaxTXID, 16, 64)
		ts, err3 := time.Parse(time.RFC3339, r.Timestamp)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("litestream ltx: unexpected file %+v: %w", r, err)
		}
		files = append(files, LTXFile{Level: r.Level, MinTXID: minT, MaxTXID: maxT, Size: r.Size, Created: ts})
	}
	return files, nil
}

// Position is a replica's newest state: the last transaction it holds and
// when the file that holds it was written (second resolution).
type Position struct {
	TXID uint64    `json:"txid"`
	Time time.Time `json:"time"`
}

// Newest is the newest position among files (zero with no file).
func Newest(files []LTXFile) Position {
	var p Position
	for _, f := range files {
		if f.MaxTXID > p.TXID || (f.MaxTXID == p.TXID && f.Created.After(p.Time)) {
			p = Position{TXID: f.MaxTXID, Time: f.Created}
		}
	}
	return p
}

var ltxName = regexp.MustCompile(`^([0-9a-f]{16})-([0-9a-f]{16})\.ltx$`)

// LocalPending reads Litestream's local L0 files for dbPath (its meta
// dir): the newest local transaction, and the write time of the oldest
// local file past replicated (zero when none: the replica is caught up).
func LocalPending(dbPath string, replicated uint64) (local uint64, oldest time.Time, err error) {
	dir := filepath.Join(MetaDir(dbPath), "ltx", "0")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, time.Time{}, err
	}
	for _, e := range ents {
		m := ltxName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		maxT, err := strconv.ParseUint(m[2], 16, 64)
		if err != nil {
			continue
		}
		local = max(local, maxT)
		if maxT <= replicated {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		if oldest.IsZero() || info.ModTime().Before(oldest) {
			oldest = info.ModTime()
		}
	}
	return local, oldest, nil
}

// Report is what 'repops replicate check' found.
type Report struct {
	Status     int       `json:"-"`
	StatusName string    `json:"status"`
	Database   string    `json:"database"`
	Config     string    `json:"config"`
	Summary    string    `json:"summary"`
	Problems   []string  `json:"problems,omitempty"`
	Processes  []Process `json:"processes"`
	Replica    string    `json:"replica,omitempty"`
	Metrics    *Metrics  `json:"metrics,omitempty"`
	MetricsErr string    `json:"metrics_error,omitempty"`
	Newest     *Position `json:"newest,omitempty"`
	LocalTXID  uint64    `json:"local_txid"`
	// PendingSince is when Litestream wrote the oldest local file the
	// replica does not hold yet (zero: none).
	PendingSince time.Time     `json:"pending_since,omitzero"`
	Lag          time.Duration `json:"-"`
	LagSeconds   float64       `json:"lag_seconds"`
	WarnAfter    float64       `json:"warn_lag_seconds"`
	CritAfter    float64       `json:"critical_lag_seconds"`
}

// CheckOptions are what Check needs; Now is time.Now when nil.
type CheckOptions struct {
	Config *config.Config
	// Binary is the litestream binary ("" when none is installed:
	// replica positions are then UNKNOWN).
	Binary string
	// BinaryErr says why there is no binary.
	BinaryErr error
	Now       func() time.Time
}

// Check says whether Litestream is running for the configured database,
// its replica, the replica's newest position, and the lag: zero when the
// replica holds every transaction Litestream has read from the WAL, else
// the age of the oldest one it does not. States: CRITICAL when no
// Litestream process replicates the database (none in /proc and none
// answering at metrics_addr for it), when its disk is full, or when the
// lag is beyond the guide's 5-minute RPO; WARNING beyond WarnLag or with
// sync errors counted; UNKNOWN when it could not look (no replicas
// configured, no config written, no binary to read the replica).
func Check(ctx context.Context, o CheckOptions) *Report {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	cfg := o.Config
	rp := cfg.Console.Replication
	rep := &Report{Config: cfg.LitestreamConfig(), Processes: []Process{},
		WarnAfter: WarnLag(rp.SyncInterval).Seconds(), CritAfter: RPO.Seconds()}
	done := func(status int, summary string) *Report {
		rep.Status, rep.StatusName, rep.Summary = status, StatusName(status), summary
		return rep
	}
	dbPath, err := DBPath(cfg)
	if err != nil {
		return done(Unknown, err.Error())
	}
	rep.Database = dbPath
	if len(rp.Replicas) == 0 {
		return done(Unknown, "replication is not configured (console.replication.replicas is empty): add a replica, then 'repops replicate config'")
	}
	r := rp.Replicas[0]
	switch r.Type {
	case "file":
		rep.Replica = "file " + r.Path
	case "sftp":
		rep.Replica = "sftp " + r.User + "@" + r.Host + ":" + r.Path
	case "s3":
		rep.Replica = "s3 " + r.Bucket + "/" + r.Path
	}
	procs, perr := FindProcesses(ctx, dbPath)
	if procs != nil {
		rep.Processes = procs
	}
	m, merr := ScrapeMetrics(ctx, rp.MetricsAddr, dbPath)
	rep.Metrics = m
	if merr != nil {
		rep.MetricsErr = merr.Error()
	}
	// The config to read the replica with: ours, else the running one's.
	conf := rep.Config
	if _, err := os.Stat(conf); err != nil {
		for _, p := range procs {
			if p.Config != "" {
				conf = p.Config
				break
			}
		}
	}
	if len(procs) == 0 && m == nil {
		why := "no 'litestream replicate' process names it"
		if perr != nil {
			why = perr.Error()
		}
		if _, err := os.Stat(rep.Config); err != nil {
			return done(Critical, fmt.Sprintf("Litestream is not running for %s (%s) and no config is written: run 'repops replicate config', then 'litestream replicate -config %s'", dbPath, why, rep.Config))
		}
		return done(Critical, fmt.Sprintf("Litestream is not running for %s (%s; nothing answers at %s): start it: litestream replicate -config %s", dbPath, why, rp.MetricsAddr, conf))
	}
	if len(procs) > 1 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%d Litestream processes replicate this database: run one", len(procs)))
	}
	if m == nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("no Litestream metrics at %s (%s): is console.replication.metrics_addr its addr?", rp.MetricsAddr, rep.MetricsErr))
	}
	if _, err := os.Stat(conf); err != nil {
		return done(Unknown, fmt.Sprintf("Litestream runs but no config to read its replica with at %s: run 'repops replicate config'", conf))
	}
	if o.Binary == "" {
		why := InstallHint
		if o.BinaryErr != nil {
			why = o.BinaryErr.Error()
		}
		return done(Unknown, "Litestream runs but its replica cannot be read: "+why)
	}
	files, err := ReplicaFiles(ctx, o.Binary, conf, dbPath)
	if err != nil {
		return done(Unknown, "read the replica: "+err.Error())
	}
	newest := Newest(files)
	if newest.TXID > 0 {
		rep.Newest = &newest
	}
	local, oldest, lerr := LocalPending(dbPath, newest.TXID)
	if m != nil {
		local = max(local, m.TXID)
	}
	rep.LocalTXID = local
	rep.PendingSince = oldest
	if newest.TXID == 0 && lerr != nil && local == 0 {
		status := Warning
		if m != nil && m.DiskFull {
			status = Critical
		}
		return done(status, fmt.Sprintf("Litestream runs for %s but has not written the replica yet (%s)", dbPath, rep.Replica))
	}
	rep.Judge(now(), rp.SyncInterval)
	return rep
}

// Judge sets the lag at now and the state from what Check found about a
// running Litestream: the lag is zero when the replica holds every
// transaction Litestream has read (LocalTXID), else the age of the oldest
// local file it does not hold (PendingSince), else of its newest file.
func (rep *Report) Judge(now time.Time, syncInterval time.Duration) {
	var newest Position
	if rep.Newest != nil {
		newest = *rep.Newest
	}
	rep.Lag = 0
	switch {
	case !rep.PendingSince.IsZero():
		rep.Lag = max(now.Sub(rep.PendingSince), 0)
	case rep.LocalTXID > newest.TXID && !newest.Time.IsZero():
		rep.Lag = max(now.Sub(newest.Time), 0)
	}
	rep.LagSeconds = rep.Lag.Seconds()
	problems := rep.Problems[:0:0]
	for _, p := range rep.Problems {
		if !strings.HasPrefix(p, "Litestream reports the local disk full") && !strings.Contains(p, "sync errors since Litestream started") {
			problems = append(problems, p)
		}
	}
	rep.Problems = problems
	status := OK
	if m := rep.Metrics; m != nil {
		if m.DiskFull {
			status = Critical
			rep.Problems = append(rep.Problems, "Litestream reports the local disk full: replication is paused")
		}
		if m.SyncErrors > 0 {
			status = max(status, Warning)
			rep.Problems = append(rep.Problems, fmt.Sprintf("%.0f sync errors since Litestream started (its log says why)", m.SyncErrors))
		}
	}
	if len(rep.Processes) > 1 || rep.Metrics == nil {
		status = max(status, Warning)
	}
	pos := "empty"
	if newest.TXID > 0 {
		pos = fmt.Sprintf("txid %d at %s", newest.TXID, newest.Time.UTC().Format(time.RFC3339))
	}
	lag := fmt.Sprintf("lag %s", rep.Lag.Round(100*time.Millisecond))
	if rep.Lag == 0 {
		lag = "lag 0s (in sync)"
	}
	warn := WarnLag(syncInterval)
	rep.WarnAfter = warn.Seconds()
	switch {
	case rep.Lag > RPO:
		status = Critical
		lag += fmt.Sprintf(", beyond the %s RPO", RPO)
	case rep.Lag > warn:
		status = max(status, Warning)
		lag += fmt.Sprintf(", over %s", warn)
	}
	who := "metrics only"
	if len(rep.Processes) > 0 {
		who = "pid " + strconv.Itoa(rep.Processes[0].Pid)
	}
	rep.Status, rep.StatusName = status, StatusName(status)
	rep.Summary = fmt.Sprintf("Litestream running (%s) for %s: replica %s, newest %s, local txid %d, %s", who, rep.Database, rep.Replica, pos, rep.LocalTXID, lag)
}
