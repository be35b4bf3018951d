"""`GET /metrics`: Prometheus text with llama-server's metric names where it has them.

llama-server's (tools/server/server-task.cpp, `to_metrics`): `llamacpp:prompt_tokens_total`,
`prompt_seconds_total`, `tokens_predicted_total`, `tokens_predicted_seconds_total`, `n_decode_total`,
`spec_decode_num_draft_tokens_total`, `spec_decode_num_accepted_tokens_total`, `spec_decode_num_drafts_total`,
`spec_decode_num_accepted_tokens_per_pos_total{position}`, and the gauges `requests_processing`,
`requests_deferred`. The speculative counters carry a `drafter` label here (llama-server has one drafter
per process); `workbench:requests_total{endpoint,status}` counts the answers. A collector reads the totals at
scrape time, so nothing is counted twice and prometheus-client writes the text format.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .slot import Record

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self, gauges: Callable[[], tuple[int, int]]) -> None:
        self._gauges = gauges  # (requests processing, requests deferred), read at scrape time
        self._lock = threading.Lock()
        self.totals: Counter[str] = Counter()
        self.prompt_seconds = 0.0
        self.predicted_seconds = 0.0
        self.drafter: defaultdict[str, Counter[str]] = defaultdict(Counter)  # drafter -> drafts/drafted/accepted
        self.positions: defaultdict[str, Counter[int]] = defaultdict(Counter)  # drafter -> position -> accepted
        self.answers: Counter[tuple[str, int]] = Counter()  # (endpoint, status)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def add(self, record: Record) -> None:
        """A finished request's counts (from the engine thread)."""
        s = record.stats
        with self._lock:
            self.totals["prompt"] += record.prompt_evaluated
            self.totals["predicted"] += s.n_emitted
            self.totals["decode"] += s.n_steps
            self.prompt_seconds += record.prompt_seconds
            self.predicted_seconds += s.elapsed
            for source, d in s.drafters.items():
                counts = self.drafter[source.value]
                counts["drafts"] += d.drafts
                counts["drafted"] += d.drafted
                counts["accepted"] += d.accepted
                for i, hits in enumerate(d.position_hits):
                    self.positions[source.value][i] += hits

    def answered(self, endpoint: str, status: int) -> None:
        with self._lock:
            self.answers[(endpoint, status)] += 1

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            def counter(name: str, help: str, value: float) -> CounterMetricFamily:
                return CounterMetricFamily(f"llamacpp:{name}", help, value=value)

            yield counter("prompt_tokens", "Number of prompt tokens processed, excluding cached tokens",
                          self.totals["prompt"])
            yield counter("prompt_seconds", "Total time spent processing prompts", self.prompt_seconds)
            yield counter("tokens_predicted", "Number of generation tokens processed", self.totals["predicted"])
            yield counter("tokens_predicted_seconds", "Total time spent generating tokens", self.predicted_seconds)
            yield counter("n_decode", "Total number of target verify steps (one batch each)", self.totals["decode"])
            for key, name, help in (("drafted", "spec_decode_num_draft_tokens", "Speculative: Total draft tokens generated"),
                                    ("accepted", "spec_decode_num_accepted_tokens",
                                     "Speculative: Total draft tokens accepted by the target model"),
                                    ("drafts", "spec_decode_num_drafts",
                                     "Speculative: Total speculative decoding verification steps")):
                family = CounterMetricFamily(f"llamacpp:{name}", help, labels=["drafter"])
                for drafter, counts in sorted(self.drafter.items()):
                    family.add_metric([drafter], counts[key])
                yield family
            family = CounterMetricFamily("llamacpp:spec_decode_num_accepted_tokens_per_pos",
                                         "Accepted tokens per draft position", labels=["drafter", "position"])
            for drafter, positions in sorted(self.positions.items()):
                for i in sorted(positions):
                    family.add_metric([drafter, str(i)], positions[i])
            yield family
            family = CounterMetricFamily("workbench:requests", "Requests answered, by endpoint and HTTP status",
                                         labels=["endpoint", "status"])
            for (endpoint, status), n in sorted(self.answers.items()):
                family.add_metric([endpoint, str(status)], n)
            yield family
        processing, deferred = self._gauges()
        yield GaugeMetricFamily("llamacpp:requests_processing", "Number of requests processing", value=processing)
        yield GaugeMetricFamily("llamacpp:requests_deferred", "Number of requests deferred", value=deferred)

    def text(self) -> bytes:
        return generate_latest(self.registry)
