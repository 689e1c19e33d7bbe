"""Prometheus metrics of the service (``GET /metrics``), in a registry of the app's own.

Each app has its own :class:`prometheus_client.CollectorRegistry`, so several apps in one
process (tests, or an app mounted twice) never share or clash over counters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    """The service's counters, gauges and histograms (names start with ``spoofscan_``)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self):
        r = self.registry = CollectorRegistry()
        self.requests = Counter("spoofscan_requests", "HTTP requests answered, by route and status",
                                ["route", "status"], registry=r)
        self.latency = Histogram("spoofscan_request_seconds", "Time from request to answer, by route",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("spoofscan_requests_in_flight", "HTTP requests being handled", registry=r)
        self.pending = Gauge("spoofscan_pending_requests", "Detection requests admitted and not yet answered "
                             "(503 when it reaches max_pending)", registry=r)
        self.queue_windows = Gauge("spoofscan_queue_windows", "Windows decoded and waiting for the model", registry=r)
        self.clips_in_flight = Gauge("spoofscan_clips_in_flight", "Clips being decoded or scored", registry=r)
        self.failures = Counter("spoofscan_failures", "Requests or files refused or failed, by kind "
                                "(not_audio, too_long, body_too_large, queue_full, cancelled...)", ["kind"], registry=r)
        self.clips = Counter("spoofscan_clips", "Clips scored, by label", ["label"], registry=r)
        self.audio_seconds = Counter("spoofscan_audio_seconds", "Seconds of audio scored", registry=r)
        self.windows = Counter("spoofscan_windows", "Windows scored by the model", registry=r)
        self.batch_windows = Histogram("spoofscan_batch_windows", "Windows per model call",
                                       buckets=BATCH_BUCKETS, registry=r)
        self.batch_clips = Histogram("spoofscan_batch_clips", "Distinct clips per model call "
                                     "(above 1: batching across requests)", buckets=BATCH_BUCKETS, registry=r)
        self.model_seconds = Histogram("spoofscan_model_seconds", "Time of one model call (log-mel and network)",
                                       buckets=LATENCY_BUCKETS, registry=r)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
