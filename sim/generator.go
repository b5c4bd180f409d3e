package sim

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// generator is the traffic model's state. Only the Run loop touches it.
type generator struct {
	rng  *rand.Rand
	virt float64 // the service's time since start, seconds (wall clock times Speed)
	base float64 // normal submissions per minute

	nextBurst, burstUntil float64 // virtual seconds
	nextArrival           float64 // virtual second of the next submission

	inflight []*appeal // submitted appeals on their way through negotiation
	recent   []int64   // ring of recently submitted appeal ids (db-growth's audit messages)
	recentAt int
	text     corpus
}

// appeal is one submitted appeal on its way to a decision.
type appeal struct {
	id    int64
	user  string
	stage int     // 0 pending, 1 negotiating
	due   float64 // virtual second of the next stage change
	tries int     // failed attempts at the next stage change
	// Drawn when the negotiation ends (kept across retries).
	hours   float64
	outcome string
}

// firstBurstAfter keeps the first minute free of bursts: the console's
// first windows are a few seconds long, and a burst in one reads as a rate
// past the guide's 100/min.
const firstBurstAfter = 60.0

func newGenerator(seed uint64, base float64) generator {
	g := generator{rng: newRand(seed), base: base, text: newCorpus()}
	g.nextBurst = firstBurstAfter + g.expo(240)
	g.nextArrival = g.uniform(0, 60/math.Max(base, 1))
	return g
}

// arrivals counts the submissions due by now at rate (per minute) and
// schedules the next. Appeals arrive about evenly, each gap within 15 % of
// the mean, rather than as a Poisson stream: the console's first windows
// are a second or two long, and two Poisson arrivals in one second (one
// start in seven at 40/min) read as 120/min, past the guide's alert. The
// rate still varies by the minute through the bursts.
func (g *generator) arrivals(rate float64) int {
	if rate <= 0 {
		g.nextArrival = math.Max(g.nextArrival, g.virt)
		return 0
	}
	n := 0
	for g.nextArrival <= g.virt && n < maxPerTick {
		n++
		g.nextArrival += 60 / rate * g.uniform(0.85, 1.15)
	}
	g.nextArrival = math.Max(g.nextArrival, g.virt-60/rate) // no backlog past the cap
	return n
}

func (g *generator) expo(mean float64) float64 { return g.rng.ExpFloat64() * mean }

func (g *generator) uniform(lo, hi float64) float64 { return lo + g.rng.Float64()*(hi-lo) }

// lognormal draws around median with spread sigma (of the log).
func (g *generator) lognormal(median, sigma float64) float64 {
	return median * math.Exp(sigma*g.rng.NormFloat64())
}

// poisson draws how many events of rate lambda happen: Knuth's method for
// small lambda (bounded loop), a rounded normal for large.
func (g *generator) poisson(lambda float64) int {
	switch {
	case lambda <= 0:
		return 0
	case lambda > 30:
		n := math.Round(lambda + math.Sqrt(lambda)*g.rng.NormFloat64())
		return int(math.Max(0, n))
	}
	limit := math.Exp(-lambda)
	p := 1.0
	for k := 0; k < 1000; k++ {
		p *= g.rng.Float64()
		if p <= limit {
			return k
		}
	}
	return 1000
}

// submitRate is the submission rate per minute now: appeal-flood's
// 240-300, or the base rate with bursts of up to twice it (kept under
// 90/min when the base is under it, so that normal stays under the
// guide's 100/min).
func (g *generator) submitRate(p profile) float64 {
	if p.flood {
		return math.Max(g.base, math.Max(floodMinPerMin, math.Min(3*g.base, MaxRate)))
	}
	for g.virt >= g.nextBurst {
		g.burstUntil = g.nextBurst + g.uniform(20, 45)
		g.nextBurst = g.burstUntil + g.expo(240)
	}
	if g.virt < g.burstUntil {
		return math.Min(g.base*1.8, math.Max(g.base, 90))
	}
	return g.base
}

// mlLatency draws one prediction's latency and confidence: a timed-out
// prediction is slow and falls back to a low-confidence answer.
func (g *generator) mlLatency(p profile) (seconds, confidence float64) {
	if p.mlSlowProb > 0 && g.rng.Float64() < p.mlSlowProb {
		return g.uniform(0.6, 2.0), g.uniform(0.3, 0.6)
	}
	return math.Min(g.lognormal(p.mlMedian, p.mlSigma), p.mlMax), 0.6 + 0.38*math.Pow(g.rng.Float64(), 0.7)
}

func (g *generator) remember(id int64) {
	if len(g.recent) < 256 {
		g.recent = append(g.recent, id)
		return
	}
	g.recent[g.recentAt] = id
	g.recentAt = (g.recentAt + 1) % len(g.recent)
}

// step runs one tick: real is the wall-clock time since the last one.
func (s *Sim) step(ctx context.Context, real time.Duration) {
	g := &s.g
	dt := real.Seconds() * s.o.Speed
	g.virt += dt
	p, _ := profileOf(s.Scenario())
	now := s.clock()

	s.submit(ctx, now, p)
	s.advance(ctx, now, p)
	s.background(ctx, now, p, dt, real)
	s.apiTraffic(p, dt)
	s.connections(p)
}

// submit draws this tick's appeal submissions and writes them.
func (s *Sim) submit(ctx context.Context, now time.Time, p profile) {
	g := &s.g
	n := g.arrivals(g.submitRate(p))
	if n == 0 {
		return
	}
	batch := make([]submission, 0, n)
	failed := 0
	for range n {
		if g.rng.Float64() < p.errorProb {
			failed++
			continue
		}
		ml, conf := g.mlLatency(p)
		batch = append(batch, submission{
			user:       g.text.user(g.rng),
			reason:     g.text.reason(g.rng),
			proc:       g.lognormal(p.procMedian, p.procSigma),
			ml:         ml,
			confidence: conf,
		})
	}
	s.m.submitted.Add(float64(n))
	if failed > 0 {
		s.m.errors.Add(float64(failed))
		s.m.api.WithLabelValues("500").Add(float64(failed))
		for range failed {
			s.m.processing.Observe(g.lognormal(0.05, 0.5))
		}
	}
	if len(batch) == 0 {
		return
	}
	ids, lat, err := s.writeSubmissions(ctx, now, batch)
	if err != nil {
		if ctx.Err() != nil {
			return // stopping: the transaction was interrupted, not failed
		}
		s.m.errors.Add(float64(len(batch)))
		s.m.api.WithLabelValues("500").Add(float64(len(batch)))
		for range batch {
			s.m.processing.Observe(lat.Seconds())
		}
		s.log.Warn("appeal submissions failed", "appeals", len(batch), "err", err)
		return
	}
	s.m.api.WithLabelValues("201").Add(float64(len(batch)))
	for i, sub := range batch {
		s.m.processing.Observe(sub.proc + lat.Seconds())
		s.m.ml.Observe(sub.ml)
		g.remember(ids[i])
		if len(g.inflight) < maxInflight {
			g.inflight = append(g.inflight, &appeal{id: ids[i], user: sub.user, due: g.virt + g.uniform(5, 40)})
		}
	}
}

// advance moves the appeals whose time has come: pending to negotiating,
// negotiating to a decision. A failed change is retried on the next tick,
// three times at most.
func (s *Sim) advance(ctx context.Context, now time.Time, p profile) {
	g := &s.g
	var open, decide []*appeal
	for _, a := range g.inflight {
		if a.due > g.virt || len(open)+len(decide) >= maxPerTick {
			continue
		}
		if a.stage == 0 {
			open = append(open, a)
			continue
		}
		if a.outcome == "" {
			s.drawOutcome(a, p)
		}
		decide = append(decide, a)
	}
	if len(open)+len(decide) == 0 {
		return
	}
	err := s.writeStages(ctx, now, open, decide)
	if err != nil && ctx.Err() != nil {
		return
	}
	done := map[*appeal]bool{}
	if err != nil {
		s.log.Warn("negotiation updates failed", "appeals", len(open)+len(decide), "err", err)
		for _, a := range append(open, decide...) {
			if a.tries++; a.tries >= 3 {
				done[a] = true
			}
		}
	} else {
		for _, a := range open {
			a.stage, a.tries = 1, 0
			a.due = g.virt + g.uniform(20, 90)
		}
		for _, a := range decide {
			s.m.negotiation.Observe(a.hours)
			done[a] = true
		}
	}
	kept := g.inflight[:0]
	for _, a := range g.inflight {
		if !done[a] {
			kept = append(kept, a)
		}
	}
	clear(g.inflight[len(kept):])
	g.inflight = kept
}

// drawOutcome draws how long the negotiation lasted (business hours) and
// how it ended: past the timeout it expired at the timeout. Under a
// profile with negMaxH, a duration beyond it is drawn again (a few times,
// then held at it), so the distribution keeps its shape below the bound.
func (s *Sim) drawOutcome(a *appeal, p profile) {
	g := &s.g
	a.hours = math.Max(0.1, g.lognormal(p.negMedianH, p.negSigma))
	for try := 0; p.negMaxH > 0 && a.hours > p.negMaxH; try++ {
		if try == 8 {
			a.hours = p.negMaxH
			break
		}
		a.hours = math.Max(0.1, g.lognormal(p.negMedianH, p.negSigma))
	}
	timeout := s.o.NegotiationTimeout.Hours()
	switch {
	case a.hours >= timeout:
		a.hours, a.outcome = timeout, "expired"
	case g.rng.Float64() < 0.55:
		a.outcome = "approved"
	default:
		a.outcome = "denied"
	}
}

// background writes the predictions not tied to a submission
// (reputation scores) and db-growth's extra rows, in bounded transactions.
func (s *Sim) background(ctx context.Context, now time.Time, p profile, dt float64, real time.Duration) {
	g := &s.g
	preds := g.poisson(bgPredictionsPerSec * dt)
	growth := 0
	if p.growthRows > 0 {
		growth = min(g.poisson(p.growthRows*dt), int(maxRowsPerRealSec*real.Seconds())+1)
	}
	msgs := 0
	if len(g.recent) > 0 {
		msgs = growth / 2
	}
	preds += growth - msgs
	for preds+msgs > 0 && ctx.Err() == nil {
		np := min(preds, maxRowsPerTx)
		nm := min(msgs, maxRowsPerTx-np)
		rows := make([]backgroundRow, 0, np+nm)
		for range np {
			ml, conf := g.mlLatency(p)
			rows = append(rows, backgroundRow{user: g.text.user(g.rng), ml: ml, confidence: conf, kind: g.text.predictionType(g.rng)})
		}
		for range nm {
			rows = append(rows, backgroundRow{appealID: g.recent[g.rng.IntN(len(g.recent))], body: g.text.audit(g.rng)})
		}
		preds, msgs = preds-np, msgs-nm
		if err := s.writeBackground(ctx, now, rows); err != nil {
			if ctx.Err() == nil {
				s.log.Warn("background writes failed", "rows", len(rows), "err", err)
			}
			return
		}
		for _, r := range rows {
			if r.appealID == 0 {
				s.m.ml.Observe(r.ml)
			}
		}
	}
}

// apiTraffic counts the API requests besides submissions, by status code.
func (s *Sim) apiTraffic(p profile, dt float64) {
	g := &s.g
	n := apiRequestsPerSec * dt
	add := func(code string, share float64) {
		if k := g.poisson(n * share); k > 0 {
			s.m.api.WithLabelValues(code).Add(float64(k))
		}
	}
	add("200", 1-p.api4xxProb-p.api5xxProb)
	add("400", p.api4xxProb*0.5)
	if p.flood {
		add("404", p.api4xxProb*0.1)
		add("429", p.api4xxProb*0.4)
	} else {
		add("404", p.api4xxProb*0.35)
		add("429", p.api4xxProb*0.15)
	}
	add("500", p.api5xxProb*0.7)
	add("503", p.api5xxProb*0.3)
}

// connections sets the pool gauge: a few connections in normal times
// (never past 70 % of the pool), all or all but one when exhausted.
func (s *Sim) connections(p profile) {
	g := &s.g
	maxc := s.o.MaxConnections
	if p.connBusy {
		v := maxc
		if float64(maxc-1) > 0.8*float64(maxc) && g.rng.IntN(2) == 0 {
			v = maxc - 1
		}
		s.m.connActive.Set(float64(v))
		return
	}
	// Normal stays under the guide's 8 active and under 80 % of the pool
	// (0.7 of it at most, which is none at all for a pool of one).
	load := 1.5 * math.Sqrt(g.submitRate(p)/math.Max(g.base, 1))
	limit := min(6, int(0.7*float64(maxc)))
	s.m.connActive.Set(float64(min(1+g.poisson(load), limit)))
}
