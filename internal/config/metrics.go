package config

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the engine's Prometheus series.
type Metrics struct {
	txns              *prometheus.CounterVec
	txnSeconds        prometheus.Histogram
	commitSeconds     prometheus.Histogram
	batchSize         prometheus.Histogram
	checkpointSeconds prometheus.Histogram
	objects           prometheus.Gauge
	index             prometheus.Gauge
	storeSize         prometheus.Gauge
	stateUpdates      prometheus.Counter
	replicaLag        prometheus.Gauge
	conflicts         prometheus.Counter
	replicaApplied    prometheus.Counter
	replicaApplyDelay prometheus.Histogram
	idsRefused        *prometheus.CounterVec
	upgraded          *prometheus.CounterVec
	ruleSeconds       *prometheus.HistogramVec
	ruleRefusals      *prometheus.CounterVec
}

// NewMetrics creates the engine's metrics on reg (nil = not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		txns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_config_transactions_total",
			Help: "Transactions by source and result (committed, unchanged: a write that changed nothing and was not recorded, dry-run, invalid, conflict, not-found, precondition, gone, error).",
		}, []string{"source", "result"}),
		txnSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "amp_config_transaction_duration_seconds",
			Help:    "Time from submission to durable commit of a transaction.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "amp_config_commit_duration_seconds",
			Help:    "Time of one group commit's durable store write (fsync included).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "amp_config_commit_batch_size",
			Help:    "Transactions per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		checkpointSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "amp_config_checkpoint_duration_seconds",
			Help:    "Time to write a checkpoint of the objects changed since the previous one.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		objects: prometheus.NewGauge(prometheus.GaugeOpts{Name: "amp_config_objects", Help: "Objects in the current configuration."}),
		index:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "amp_config_index", Help: "Index of the newest committed transaction."}),
		storeSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "amp_store_size_bytes", Help: "Size of the store on disk.",
		}),
		stateUpdates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amp_state_updates_total", Help: "Operational state reports written (not versioned).",
		}),
		replicaLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "amp_config_replica_lag_indexes",
			Help: "Transactions committed in the shared store (by other replicas) that this replica has not applied yet.",
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amp_config_commit_conflicts_total",
			Help: "Group commits re-run because another replica committed the index first.",
		}),
		replicaApplied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amp_config_replica_applied_total",
			Help: "Transactions committed by other replicas and applied here from the shared store's watch.",
		}),
		replicaApplyDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "amp_config_replica_apply_delay_seconds",
			Help:    "Time from another replica's transaction (its clock) to its application here.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		idsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_config_enterprise_ids_refused_total",
			Help: "Enterprise creations refused for their id: reserved (it would read as a role) or retired (a deleted enterprise's).",
		}, []string{"rule"}),
	}
	m.upgraded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "amp_store_upgrade_keys_total",
		Help: "Stored entries moved at start-up from the keys of a release before model-set versions ({set}/{tenant}/…) to versioned keys, by kind (object, state).",
	}, []string{"kind"})
	m.ruleSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "amp_config_rule_duration_seconds",
		Help:    "Time a model set's rule (its expansion and its check) took in one transaction, by rule.",
		Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16),
	}, []string{"rule"})
	m.ruleRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "amp_config_rule_refusals_total",
		Help: "Transactions a model set's rule refused, by rule.",
	}, []string{"rule"})
	m.upgraded.WithLabelValues("object")
	m.upgraded.WithLabelValues("state")
	m.idsRefused.WithLabelValues("reserved")
	m.idsRefused.WithLabelValues("retired")
	for _, src := range []string{"api", "cli", "import", "rollback", "migrate"} {
		for _, res := range []string{"committed", "invalid", "conflict"} {
			m.txns.WithLabelValues(src, res)
		}
	}
	if reg != nil {
		reg.MustRegister(m.txns, m.txnSeconds, m.commitSeconds, m.batchSize, m.checkpointSeconds, m.objects, m.index, m.storeSize, m.stateUpdates,
			m.replicaLag, m.conflicts, m.replicaApplied, m.replicaApplyDelay, m.idsRefused, m.upgraded, m.ruleSeconds, m.ruleRefusals)
	}
	return m
}
