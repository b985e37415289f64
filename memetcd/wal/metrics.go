package wal

import "github.com/prometheus/client_golang/prometheus"

// metrics are the WAL's Prometheus series. Where etcd exports the same thing
// the name is etcd's, so existing etcd dashboards read memetcd unchanged.
type metrics struct {
	fsyncDuration    prometheus.Histogram
	writeBytes       prometheus.Counter
	records          *prometheus.CounterVec
	recordsByMode    [ModeFsync + 1]prometheus.Counter // records' children, resolved once: Append is hot
	batchRecords     prometheus.Histogram
	batchWait        prometheus.Histogram
	writeErrors      prometheus.Counter
	droppedRecords   prometheus.Counter
	segments         prometheus.Gauge
	snapshotDuration prometheus.Histogram
	snapshotBytes    prometheus.Gauge
	replayDuration   prometheus.Gauge
	replayRecords    prometheus.Gauge
	backpressure     prometheus.Counter
	replyFlushes     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		fsyncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "etcd_disk_wal_fsync_duration_seconds",
			Help:    "The latency distributions of fsync called by WAL.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		writeBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "etcd_disk_wal_write_bytes_total",
			Help: "Total number of bytes written in WAL.",
		}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "memetcd_wal_records_total",
			Help: "Records appended to the WAL, by the mode of the file they went to.",
		}, []string{"mode"}),
		batchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "memetcd_wal_batch_records",
			Help:    "Records written per flush (one fsync per dirty file): the group-commit factor.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		batchWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "memetcd_wal_batch_wait_seconds",
			Help:    "Time from the first fsync-mode record of a batch being appended to the flusher starting to write it (how long its oldest record queued).",
			Buckets: prometheus.ExponentialBuckets(0.00001, 2, 18),
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "memetcd_wal_write_errors_total",
			Help: "WAL write or fsync failures that stopped durable writes (0 or 1 per process: after one the WAL refuses durable writes until restart).",
		}),
		droppedRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "memetcd_wal_dropped_records_total",
			Help: "Buffered-mode records not written because the WAL had failed.",
		}),
		segments: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "memetcd_wal_segments",
			Help: "Segment files in the WAL directory.",
		}),
		snapshotDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "memetcd_wal_snapshot_duration_seconds",
			Help:    "Time to write a snapshot (fsync and rename included).",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
		snapshotBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "memetcd_wal_snapshot_size_bytes",
			Help: "Size of the newest snapshot.",
		}),
		replayDuration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "memetcd_wal_replay_duration_seconds",
			Help: "Time the boot spent loading the snapshot and replaying the WAL.",
		}),
		replayRecords: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "memetcd_wal_replay_records",
			Help: "Records replayed at boot (after the snapshot).",
		}),
		backpressure: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "memetcd_wal_backpressure_waits_total",
			Help: "Appends that waited because twice MaxPendingBytes of buffered data had not reached the flusher yet.",
		}),
		replyFlushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "memetcd_wal_reply_flushes_total",
			Help: "Flushes a reply made itself (a buffered write to an idle WAL with no fsync-mode prefix) instead of waking the flusher.",
		}),
	}
	for _, mode := range []Mode{ModeBuffered, ModeFsync} {
		m.recordsByMode[mode] = m.records.WithLabelValues(mode.String())
	}
	if reg != nil {
		reg.MustRegister(m.fsyncDuration, m.writeBytes, m.records, m.batchRecords, m.batchWait, m.writeErrors,
			m.droppedRecords, m.segments, m.snapshotDuration, m.snapshotBytes, m.replayDuration, m.replayRecords, m.backpressure, m.replyFlushes)
	}
	return m
}
