package sim

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/repops/repops/db"
)

// DemoApplicationID is the PRAGMA application_id of a database that
// GenerateDemo built ("RPOD" in ASCII). It lives in the file header, outside
// the schema, so a demo database can be told from the service's database
// without opening it: IsDemo.
const DemoApplicationID = 0x52504F44

// DefaultDemoAppeals is the demo's size when none is asked for: big enough
// for the dashboard and the guide's queries to look real, small enough to
// generate in a few seconds.
const DefaultDemoAppeals = 100_000

// DemoOptions sizes and seeds a demo database.
type DemoOptions struct {
	// Appeals is how many appeals to generate; messages and predictions
	// follow from it. 0 means DefaultDemoAppeals.
	Appeals int
	// Seed makes the data: the same seed and Now give the same rows.
	Seed int64
	// Now is the end of the two years the appeals spread over. The zero
	// value means the current time. It is truncated to the second.
	Now time.Time
}

// DemoSummary says what GenerateDemo wrote.
type DemoSummary struct {
	Path          string
	Seed          int64
	Now           time.Time
	Appeals       int64
	Messages      int64
	Predictions   int64
	ByStatus      map[string]int64
	LargeThreads  int64 // appeals with at least LargeThreadMessages messages
	LargestThread int64 // messages in the largest thread
	Took          time.Duration
	// Steps is where the time went: schema, rows, indexes, analyze, finish.
	Steps []DemoStep
}

// DemoStep is one timed step of GenerateDemo.
type DemoStep struct {
	Name string
	Took time.Duration
}

// LargeThreadMessages is where a negotiation thread counts as large in
// DemoSummary: the guide's "Check large threads" query lists such threads
// first.
const LargeThreadMessages = 100

// IsDemo reports whether the file at path is a database built by
// GenerateDemo. It reads the header only and changes nothing; a missing or
// non-SQLite file is not a demo (and no error).
func IsDemo(path string) (bool, error) {
	id, ok, err := db.ApplicationID(path)
	return ok && id == DemoApplicationID, err
}

// GenerateDemo builds a demo database at path: the migrated schema (goose
// versions and checksums recorded, exactly as 'repops migrate apply' leaves
// it) filled with seeded, deterministic data: appeals over the two years
// before o.Now in every status (final statuses in the old part, pending and
// negotiating ones recent), negotiation threads with a long tail (most with
// 0-6 messages, a few with hundreds) that last as long as the healthy
// service's, and ML predictions of four types with confidences and
// latencies. It refuses a path that exists.
//
// The file is written under a temporary name beside path and renamed into
// place when complete, so path is either absent or a whole demo database.
// For speed it is written through one connection with the journal and
// syncs off, the secondary indexes with random keys dropped during the
// bulk insert and recreated from their migration SQL after it, then
// ANALYZEd and switched to WAL. BenchmarkGenerateDemo1M measures it: 1M
// appeals (5.55M rows, 917 MiB) took 44 s on a 2-core machine busy with
// other work (load average 4.5): 33 s of rows, 10 s of indexes, 2 s of
// ANALYZE. progress, when not nil, is called with appeals written so far.
func GenerateDemo(ctx context.Context, path string, o DemoOptions, progress func(done, total int)) (*DemoSummary, error) {
	start := time.Now()
	if o.Appeals == 0 {
		o.Appeals = DefaultDemoAppeals
	}
	if o.Appeals < 0 {
		return nil, fmt.Errorf("generate demo database %s: appeals must be positive, got %d", path, o.Appeals)
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	o.Now = o.Now.UTC().Truncate(time.Second)
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("generate demo database: %s already exists: remove it or choose another path", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("generate demo database %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("generate demo database %s: directory %s does not exist: create it first", path, dir)
	}
	tmp := filepath.Join(dir, "."+filepath.Base(path)+".demo.tmp")
	db.RemoveDBFiles(tmp) // a leftover of an interrupted run: ours by its name
	ok := false
	defer func() {
		if !ok {
			db.RemoveDBFiles(tmp)
		}
	}()

	sum, err := buildDemo(ctx, tmp, o, progress)
	if err != nil {
		return nil, fmt.Errorf("generate demo database %s: %w", path, err)
	}
	if err := db.PublishFile(tmp, path); err != nil {
		return nil, fmt.Errorf("generate demo database %s: %w", path, err)
	}
	ok = true
	sum.Path = path
	sum.Took = time.Since(start)
	return sum, nil
}

// demoAppendIndexes are the secondary indexes kept during the bulk insert:
// rows arrive in time order, so their keys (times, appeal ids, status and
// time) grow at the index's right edge, which costs little. The others
// (user ids, message times across interleaved threads) are cheaper built
// once after the rows: measured on 300k appeals, 10% less time than
// dropping all of them, and the same as keeping all of them.
var demoAppendIndexes = map[string]bool{
	"idx_appeals_created":         true,
	"idx_appeals_status_created":  true,
	"idx_messages_appeal_created": true,
	"idx_predictions_created":     true,
}

// demoTables are the tables the generator fills.
var demoTables = []string{"appeals", "appeal_negotiation_messages", "ml_predictions"}

func buildDemo(ctx context.Context, path string, o DemoOptions, progress func(done, total int)) (*DemoSummary, error) {
	var steps []DemoStep
	mark := time.Now()
	stepDone := func(name string) {
		steps = append(steps, DemoStep{Name: name, Took: time.Since(mark)})
		mark = time.Now()
	}
	pool := db.OpenBulk(path,
		"PRAGMA cache_size = -262144", // 256 MiB: the indexes are sorted in memory
		"PRAGMA temp_store = MEMORY",
		"PRAGMA threads = 2",
	)
	defer pool.Close()
	if _, err := db.Migrate(ctx, pool, path); err != nil {
		return nil, err
	}

	// The migrations' own SQL for the secondary indexes whose keys arrive
	// in random order, to drop them now and recreate them unchanged, each
	// in one sorted pass, once the rows are in.
	type index struct{ name, sql string }
	var indexes []index
	rows, err := pool.QueryContext(ctx, `SELECT name, sql FROM sqlite_schema
		WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN (?, ?, ?) ORDER BY rowid`,
		demoTables[0], demoTables[1], demoTables[2])
	if err != nil {
		return nil, fmt.Errorf("read index definitions: %w", err)
	}
	for rows.Next() {
		var ix index
		if err := rows.Scan(&ix.name, &ix.sql); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read index definitions: %w", err)
		}
		indexes = append(indexes, ix)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read index definitions: %w", err)
	}
	var deferred []index
	for _, ix := range indexes {
		if !demoAppendIndexes[ix.name] {
			deferred = append(deferred, ix)
		}
	}
	indexes = deferred
	for _, ix := range indexes {
		if _, err := pool.ExecContext(ctx, `DROP INDEX "`+ix.name+`"`); err != nil {
			return nil, fmt.Errorf("drop index %s for the bulk insert: %w", ix.name, err)
		}
	}

	stepDone("schema")

	conn, err := pool.Conn(ctx)
	if err != nil {
		return nil, err
	}
	var sum *DemoSummary
	err = conn.Raw(func(dc any) error {
		sc, ok := db.SQLiteConn(dc)
		if !ok {
			return fmt.Errorf("demo: unexpected driver connection %T", dc)
		}
		var err error
		sum, err = insertDemoRows(ctx, sc, o, progress)
		return err
	})
	conn.Close()
	if err != nil {
		return nil, err
	}

	stepDone("rows")
	for _, ix := range indexes {
		if _, err := pool.ExecContext(ctx, ix.sql); err != nil {
			return nil, fmt.Errorf("recreate index %s: %w", ix.name, err)
		}
	}
	stepDone("indexes")
	if _, err := pool.ExecContext(ctx, "ANALYZE"); err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	stepDone("analyze")
	for _, stmt := range []string{
		fmt.Sprintf("PRAGMA application_id = %d", DemoApplicationID),
		"PRAGMA journal_mode = WAL",
	} {
		if _, err := pool.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("%s: %w", stmt, err)
		}
	}
	if err := pool.Close(); err != nil {
		return nil, fmt.Errorf("close: %w", err)
	}
	stepDone("finish")
	sum.Steps = steps
	return sum, nil
}

// Demo data vocabulary.
var (
	demoReasons = []string{
		"Automated fraud flag on a legitimate purchase",
		"Reputation drop after a disputed review",
		"Account restricted for unusual login activity",
		"Negative feedback from a retaliatory buyer",
		"Listing removed as counterfeit in error",
		"Late shipment caused by the carrier",
		"Spam report on a support message",
		"Chargeback later withdrawn by the bank",
		"Score not restored after identity verification",
		"Duplicate penalty for one incident",
		"Rating manipulation flag from a shared network",
		"Suspension for policy violation now corrected",
	}
	demoUserBodies = []string{
		"I have attached the receipts that show the order was delivered.",
		"The buyer confirmed by email that the item arrived; screenshot attached.",
		"This was a carrier delay, the tracking number shows the scan dates.",
		"Can you tell me which policy the listing broke? I changed the wording already.",
		"I logged in from a hotel while travelling, it was me.",
		"Please reconsider, this account has seven years of positive history.",
		"The bank withdrew the chargeback on Monday, reference attached.",
		"Any update? It has been two days.",
		"Thanks, that answers my question.",
		"I accept the partial restoration.",
	}
	demoReviewerBodies = []string{
		"Thanks for the details. We are checking the delivery records now.",
		"Could you send the order number and the date of purchase?",
		"The receipts match our records; we will restore the score.",
		"We could not verify the delivery. Can you provide the carrier's proof?",
		"The login pattern matches a known travel profile, restriction lifted.",
		"We can restore part of the score: the second penalty was a duplicate.",
		"Escalated to the trust and safety team for a second review.",
		"Closing this appeal: the evidence does not support a change.",
	}
	demoSystemBodies = []string{
		"Appeal received and queued for review.",
		"Reminder: the appeal expires without a reply within 72 hours.",
		"Appeal assigned to a reviewer.",
		"Automatic ML review completed.",
	}
)

// demoRand is the generator's randomness: one seeded PCG stream.
type demoRand struct{ *rand.Rand }

func (r demoRand) lognormal(median, sigma float64) float64 {
	return median * math.Exp(sigma*r.NormFloat64())
}

// pick returns an index by weights (which need not sum to 1).
func (r demoRand) pick(weights []float64) int {
	var total float64
	for _, w := range weights {
		total += w
	}
	x := r.Float64() * total
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

var demoStatuses = []string{"pending", "negotiating", "approved", "denied", "expired"}

// Status mix by an appeal's age: the old part is settled, the last days are
// open. A few old ones are stuck, as in life. Few recent ones expired (a
// healthy service's), since an expired negotiation lasted the 72 h timeout
// and more than one in twenty would put the p95 past the guide's 24 h.
var (
	statusOld    = []float64{0.008, 0.012, 0.47, 0.36, 0.15}
	statusRecent = []float64{0.15, 0.27, 0.34, 0.23, 0.01}
	statusNew    = []float64{0.45, 0.35, 0.12, 0.08, 0}
)

func round(x float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(x*p) / p
}

// bulkInsert writes rows into one table through a prepared statement of
// many rows (one statement run and one cursor for bulkRows rows, which lets
// SQLite append without seeking) and a one-row statement for the rest.
type bulkInsert struct {
	c         *sqlite3.SQLiteConn
	cols      int
	many, one *sqlite3.SQLiteStmt
	buf       []driver.NamedValue // bulkRows rows of cols values
	n         int                 // rows buffered
}

const bulkRows = 64

func newBulkInsert(c *sqlite3.SQLiteConn, table string, columns []string) (*bulkInsert, error) {
	b := &bulkInsert{c: c, cols: len(columns)}
	head := "INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES "
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(columns)), ", ") + ")"
	one, err := c.Prepare(head + tuple)
	if err != nil {
		return nil, fmt.Errorf("prepare insert into %s: %w", table, err)
	}
	b.one = one.(*sqlite3.SQLiteStmt)
	many, err := c.Prepare(head + strings.TrimSuffix(strings.Repeat(tuple+", ", bulkRows), ", "))
	if err != nil {
		b.one.Close()
		return nil, fmt.Errorf("prepare insert into %s: %w", table, err)
	}
	b.many = many.(*sqlite3.SQLiteStmt)
	b.buf = make([]driver.NamedValue, bulkRows*b.cols)
	for i := range b.buf {
		b.buf[i].Ordinal = i + 1
	}
	return b, nil
}

// row returns the next row's values to fill; add writes it when full.
func (b *bulkInsert) row() []driver.NamedValue {
	return b.buf[b.n*b.cols : (b.n+1)*b.cols]
}

// add counts the row filled through row and writes the buffer when full.
func (b *bulkInsert) add() error {
	b.n++
	if b.n < bulkRows {
		return nil
	}
	b.n = 0
	_, err := b.many.ExecContext(context.Background(), b.buf)
	return err
}

// flush writes the buffered rows one by one.
func (b *bulkInsert) flush() error {
	one := make([]driver.NamedValue, b.cols)
	for r := 0; r < b.n; r++ {
		for i := range one {
			one[i] = driver.NamedValue{Ordinal: i + 1, Value: b.buf[r*b.cols+i].Value}
		}
		if _, err := b.one.ExecContext(context.Background(), one); err != nil {
			return err
		}
	}
	b.n = 0
	return nil
}

func (b *bulkInsert) close() {
	b.one.Close()
	b.many.Close()
}

// timeText formats unix seconds as SQLite's datetime() does, faster than
// time.Format: the date part is cached per day.
type timeText struct{ days map[int64]string }

func (tt *timeText) format(sec int64) string {
	day := sec / 86400
	if sec < 0 && sec%86400 != 0 {
		day--
	}
	prefix, ok := tt.days[day]
	if !ok {
		prefix = time.Unix(day*86400, 0).UTC().Format("2006-01-02 ")
		tt.days[day] = prefix
	}
	s := sec - day*86400
	var b [19]byte
	copy(b[:], prefix)
	h, m, x := s/3600, s/60%60, s%60
	b[11], b[12], b[13] = byte('0'+h/10), byte('0'+h%10), ':'
	b[14], b[15], b[16] = byte('0'+m/10), byte('0'+m%10), ':'
	b[17], b[18] = byte('0'+x/10), byte('0'+x%10)
	return string(b[:])
}

// insertDemoRows writes the rows in transactions of a few thousand
// appeals. Times are whole seconds since the epoch until formatted.
func insertDemoRows(ctx context.Context, c *sqlite3.SQLiteConn, o DemoOptions, progress func(done, total int)) (*DemoSummary, error) {
	appeals, err := newBulkInsert(c, "appeals", []string{"id", "user_id", "reason", "status", "created_at", "updated_at", "resolved_at"})
	if err != nil {
		return nil, err
	}
	defer appeals.close()
	messages, err := newBulkInsert(c, "appeal_negotiation_messages", []string{"id", "appeal_id", "sender", "body", "created_at"})
	if err != nil {
		return nil, err
	}
	defer messages.close()
	predictions, err := newBulkInsert(c, "ml_predictions", []string{"id", "user_id", "appeal_id", "prediction_type", "confidence", "latency_ms", "model_version", "created_at"})
	if err != nil {
		return nil, err
	}
	defer predictions.close()

	r := demoRand{rand.New(rand.NewPCG(uint64(o.Seed), 0x9e3779b97f4a7c15))}
	tt := &timeText{days: map[int64]string{}}
	n := o.Appeals
	const day = 86400
	now := o.Now.Unix()
	span := int64(730 * day)
	begin := now - span
	modelSwitch := now - 180*day
	users := max(10, n/3)
	userIDs := make([]string, users)
	userID := func(i int) string {
		if userIDs[i] == "" {
			userIDs[i] = fmt.Sprintf("user_%07d", i+1)
		}
		return userIDs[i]
	}
	// Large threads: about one appeal in 2000, and at least a handful in a
	// small demo so that the guide's large-thread query always finds some.
	pLarge := math.Min(0.05, math.Max(1.0/2000, 8.0/float64(n)))

	sum := &DemoSummary{Seed: o.Seed, Now: o.Now, ByStatus: map[string]int64{}}
	var msgID, predID int64
	addPrediction := func(uid string, appealID any, typ string, at int64) error {
		predID++
		var conf float64
		switch typ {
		case "appeal_outcome":
			u := r.Float64()
			conf = 0.5 + 0.5*(1-u*u)
		case "fraud_risk":
			conf = 0.4 + 0.6*math.Sqrt(r.Float64())
		case "reputation_score":
			conf = 0.7 + 0.3*r.Float64()
		default:
			conf = 0.3 + 0.7*r.Float64()
		}
		lat := r.lognormal(28, 0.6)
		if r.IntN(300) == 0 {
			lat = 400 + 800*r.Float64() // a slow model call now and then
		}
		model := "v1.0"
		if at < modelSwitch {
			model = "v0.9"
		}
		v := predictions.row()
		v[0].Value, v[1].Value, v[2].Value, v[3].Value = predID, uid, appealID, typ
		v[4].Value, v[5].Value, v[6].Value, v[7].Value = round(conf, 4), round(lat, 2), model, tt.format(at)
		sum.Predictions++
		if err := predictions.add(); err != nil {
			return fmt.Errorf("insert prediction %d: %w", predID, err)
		}
		return nil
	}
	commit := func() error {
		for _, b := range []*bulkInsert{appeals, messages, predictions} {
			if err := b.flush(); err != nil {
				return err
			}
		}
		_, err := c.Exec("COMMIT", nil)
		return err
	}

	const batch = 10000
	for i := 0; i < n; i++ {
		if i%batch == 0 {
			if i > 0 {
				if err := commit(); err != nil {
					return nil, err
				}
				if progress != nil {
					progress(i, n)
				}
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if _, err := c.Exec("BEGIN", nil); err != nil {
				return nil, err
			}
		}
		id := int64(i + 1)
		// Ids follow time; the volume grows over the two years.
		x := (float64(i) + r.Float64()) / float64(n)
		created := begin + int64(math.Pow(x, 0.75)*float64(span))
		age := now - created
		weights := statusOld
		switch {
		case age < 3*day:
			weights = statusNew
		case age < 14*day:
			weights = statusRecent
		}
		status := demoStatuses[r.pick(weights)]
		u := r.Float64()
		uid := userID(int(float64(users) * u * u))
		reason := demoReasons[r.IntN(len(demoReasons))]

		// Thread length: none or one for pending appeals, a geometric
		// body for the rest and now and then hundreds.
		var msgs int
		switch {
		case status == "pending":
			msgs = r.IntN(2)
		case r.Float64() < pLarge:
			msgs = 150 + r.IntN(650)
		case status == "approved" && r.IntN(7) == 0:
			msgs = 0 // approved without negotiation
		default:
			msgs = 1 + min(40, int(-math.Log(1-r.Float64())*2.3))
		}

		var end int64 // the thread's last moment
		var resolved any
		updated := created
		switch status {
		case "approved", "denied", "expired":
			// As long as the healthy service's (the simulator's normal
			// scenario): a median of 4 h, a p95 about 13 h, so that the
			// console's negotiation p95 measured from the messages is
			// within the guide's 24 h until the simulator has its own.
			d := int64(math.Min(71, r.lognormal(4, 0.7)) * 3600)
			if status == "expired" {
				d = 72 * 3600
			}
			end = min(created+d, now)
			resolved, updated = tt.format(end), end
		default:
			end = now
			if msgs > 0 {
				end = created + int64(r.Float64()*float64(now-created))
				updated = end
			}
		}
		v := appeals.row()
		v[0].Value, v[1].Value, v[2].Value, v[3].Value = id, uid, reason, status
		v[4].Value, v[5].Value, v[6].Value = tt.format(created), tt.format(updated), resolved
		if err := appeals.add(); err != nil {
			return nil, fmt.Errorf("insert appeal %d: %w", id, err)
		}
		sum.Appeals++
		sum.ByStatus[status]++

		step := float64(end-created) / float64(msgs+1)
		for j := 0; j < msgs; j++ {
			msgID++
			at := created + int64(step*(float64(j)+r.Float64()))
			sender, body := "user", demoUserBodies[r.IntN(len(demoUserBodies))]
			switch {
			case j == 0 && status == "pending":
				sender, body = "system", demoSystemBodies[0]
			case r.IntN(20) == 0:
				sender, body = "system", demoSystemBodies[r.IntN(len(demoSystemBodies))]
			case j%2 == 1:
				sender, body = "reviewer", demoReviewerBodies[r.IntN(len(demoReviewerBodies))]
			}
			v := messages.row()
			v[0].Value, v[1].Value, v[2].Value, v[3].Value, v[4].Value = msgID, id, sender, body, tt.format(at)
			if err := messages.add(); err != nil {
				return nil, fmt.Errorf("insert message %d: %w", msgID, err)
			}
		}
		sum.Messages += int64(msgs)
		if int64(msgs) >= LargeThreadMessages {
			sum.LargeThreads++
		}
		sum.LargestThread = max(sum.LargestThread, int64(msgs))

		// Predictions: the outcome model scores nearly every appeal, the
		// others some; reputation scores are per user, not per appeal.
		at := created + 1 + int64(r.IntN(5))
		if r.IntN(100) < 92 {
			if err := addPrediction(uid, id, "appeal_outcome", at); err != nil {
				return nil, err
			}
		}
		if r.IntN(100) < 35 {
			if err := addPrediction(uid, id, "fraud_risk", at); err != nil {
				return nil, err
			}
		}
		if r.IntN(100) < 25 {
			if err := addPrediction(uid, id, "response_time", at+1); err != nil {
				return nil, err
			}
		}
		if r.IntN(100) < 20 {
			if err := addPrediction(uid, nil, "reputation_score", at+2); err != nil {
				return nil, err
			}
		}
	}
	if err := commit(); err != nil {
		return nil, err
	}
	if progress != nil {
		progress(n, n)
	}
	return sum, nil
}
