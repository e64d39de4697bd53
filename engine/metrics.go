package engine

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's Prometheus metrics, on a registry of their own (served at /metrics).
type Metrics struct {
	Registry      *prometheus.Registry
	events        *prometheus.CounterVec
	merges        prometheus.Counter
	customers     prometheus.Gauge
	segmentMoves  *prometheus.CounterVec
	triggers      *prometheus.CounterVec
	outcomes      *prometheus.CounterVec
	deliveries    *prometheus.CounterVec
	codes         *prometheus.CounterVec
	celErrors     *prometheus.CounterVec
	webhooks      *prometheus.CounterVec
	refusedConns  prometheus.Counter
	audienceSyncs *prometheus.CounterVec
	steps         *prometheus.CounterVec
	ingestSeconds prometheus.Histogram
	commitSeconds prometheus.Histogram
	decideSeconds prometheus.Histogram
	sendSeconds   *prometheus.HistogramVec
	bundle        *prometheus.GaugeVec

	// The counters the processor moves for most events, by label values.
	firedBy, movesBy, outcomesBy *counterCache
}

func newMetrics() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	fast := []float64{.0001, .0002, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1}
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "musubi_events_total", Help: "Events ingested, by type and whether they repeated an earlier event."}, []string{"type", "duplicate"})
	m.merges = prometheus.NewCounter(prometheus.CounterOpts{Name: "musubi_identity_merges_total", Help: "Customers merged by the identity graph."})
	m.customers = prometheus.NewGauge(prometheus.GaugeOpts{Name: "musubi_customers", Help: "Customers (Uni-IDs) in the identity graph."})
	m.segmentMoves = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "musubi_segment_moves_total", Help: "Customers entering and leaving segments."}, []string{"segment", "move"})
	m.triggers = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "musubi_trigger_fired_total", Help: "Trigger firings."}, []string{"trigger"})
	m.outcomes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "musubi_messages_total", Help: "Messages by what the delivery rules decided: queued, held, suppressed, unreachable, dead."}, []string{"status"})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "musubi_deliveries_total", Help: "Send attempts by provider and result: sent, retry, dead."}, []string{"via", "result"})
	m.codes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "musubi_codes_issued_total", Help: "Coupon codes issued, by campaign."}, []string{"campaign"})
	m.celErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "musubi_rule_errors_total", Help: "Rules that failed to evaluate (cost limit, bad data)."}, []string{"rule"})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "musubi_webhooks_total", Help: "Provider webhook calls, by provider and result."}, []string{"provider", "result"})
	m.refusedConns = prometheus.NewCounter(prometheus.CounterOpts{Name: "musubi_connections_refused_total", Help: "Connections closed on arrival: their client already had the most open connections allowed."})
	m.audienceSyncs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "musubi_audience_members_synced_total", Help: "Audience members added or removed in systems, by provider."}, []string{"provider"})
	m.steps = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "musubi_steps_total", Help: "Actions held back to run later: scheduled, run, cancelled (by a wait's unless), dropped (customer gone, condition no longer true)."}, []string{"status"})
	m.ingestSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "musubi_ingest_seconds", Help: "Time from validated request to committed events.", Buckets: fast})
	m.commitSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "musubi_commit_seconds", Help: "Time of one group commit (processing and write).", Buckets: fast})
	m.decideSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "musubi_decide_seconds", Help: "Time of a synchronous decision.", Buckets: fast})
	m.sendSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "musubi_send_seconds", Help: "Time of a provider send.", Buckets: fast}, []string{"via"})
	m.bundle = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "musubi_rule_bundle_info", Help: "The active rule bundle (value 1)."}, []string{"hash"})
	m.Registry.MustRegister(m.events, m.merges, m.customers, m.segmentMoves, m.triggers, m.outcomes, m.deliveries,
		m.codes, m.celErrors, m.webhooks, m.refusedConns, m.audienceSyncs, m.steps, m.ingestSeconds, m.commitSeconds, m.decideSeconds, m.sendSeconds, m.bundle,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	m.firedBy, m.movesBy, m.outcomesBy = newCounterCache(m.triggers, 1), newCounterCache(m.segmentMoves, 2), newCounterCache(m.outcomes, 1)
	return m
}

func (m *Metrics) step(status string) prometheus.Counter { return m.steps.WithLabelValues(status) }

func (m *Metrics) triggerFired(trigger string) prometheus.Counter { return m.firedBy.get(trigger, "") }

// segmentMoved is the counter of a segment's moves: "entered" or "exited".
func (m *Metrics) segmentMoved(segment, move string) prometheus.Counter {
	return m.movesBy.get(segment, move)
}

func (m *Metrics) outcome(status string) prometheus.Counter { return m.outcomesBy.get(status, "") }

// counterCache keeps the children of a CounterVec with one or two labels: WithLabelValues
// hashes the labels and looks the child up under a lock on every call, and the processor
// counts several firings, moves and outcomes per event.
type counterCache struct {
	vec    *prometheus.CounterVec
	labels int
	mu     sync.Mutex
	m      map[[2]string]prometheus.Counter
}

func newCounterCache(vec *prometheus.CounterVec, labels int) *counterCache {
	return &counterCache{vec: vec, labels: labels, m: map[[2]string]prometheus.Counter{}}
}

// get returns the counter of the label values a (and b, for two labels).
func (c *counterCache) get(a, b string) prometheus.Counter {
	k := [2]string{a, b}
	c.mu.Lock()
	defer c.mu.Unlock()
	ctr, ok := c.m[k]
	if !ok {
		ctr = c.vec.WithLabelValues([]string{a, b}[:c.labels]...)
		c.m[k] = ctr
	}
	return ctr
}

func (m *Metrics) setBundle(p *program) {
	m.bundle.Reset()
	m.bundle.WithLabelValues(short(p.Hash)).Set(1)
}
