"""Prometheus metrics in the text exposition format (no client library needed).

Counters and histograms are updated by the service; gauges are read at scrape time through
collector callbacks (queue depth per tier and the overdue count come from the store).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable, Sequence

__all__ = ["Counter", "Histogram", "Registry"]

Sample = tuple[str, dict[str, str], float]


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    body = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in sorted(labels.items())
    )
    return "{" + body + "}"


def _num(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Counter:
    """A monotonically increasing count, optionally per label values."""

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.label_names = tuple(label_names)
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(labels[n] for n in self.label_names)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(tuple(labels[n] for n in self.label_names), 0.0)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        with self._lock:
            items = sorted(self._values.items())
        for key, v in items:
            labels = dict(zip(self.label_names, key, strict=True))
            yield f"{self.name}{_labels(labels)} {_num(v)}"


class Histogram:
    """Cumulative-bucket histogram (seconds)."""

    DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

    def __init__(
        self, name: str, help_text: str, buckets: Sequence[float] = DEFAULT_BUCKETS
    ) -> None:
        self.name = name
        self.help = help_text
        self.buckets = tuple(sorted(buckets))
        self._counts = [0] * (len(self.buckets) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        i = bisect.bisect_left(self.buckets, value)
        with self._lock:
            self._counts[i] += 1
            self._sum += value

    @property
    def count(self) -> int:
        return sum(self._counts)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        with self._lock:
            counts = list(self._counts)
            total = self._sum
        running = 0
        for bound, n in zip((*self.buckets, float("inf")), counts, strict=True):
            running += n
            yield f'{self.name}_bucket{{le="{_num(bound)}"}} {running}'
        yield f"{self.name}_sum {total!r}"
        yield f"{self.name}_count {running}"


class Registry:
    """Metrics plus gauge collectors, rendered together."""

    def __init__(self) -> None:
        self._metrics: list[Counter | Histogram] = []
        self._gauges: list[tuple[str, str, Callable[[], Iterable[Sample]]]] = []

    def counter(
        self, name: str, help_text: str, label_names: Sequence[str] = ()
    ) -> Counter:
        metric = Counter(name, help_text, label_names)
        self._metrics.append(metric)
        return metric

    def histogram(
        self,
        name: str,
        help_text: str,
        buckets: Sequence[float] = Histogram.DEFAULT_BUCKETS,
    ) -> Histogram:
        metric = Histogram(name, help_text, buckets)
        self._metrics.append(metric)
        return metric

    def gauge(
        self, name: str, help_text: str, collect: Callable[[], Iterable[Sample]]
    ) -> None:
        """Register a gauge family whose samples ``collect()`` yields at scrape time."""
        self._gauges.append((name, help_text, collect))

    def render(self) -> str:
        lines: list[str] = []
        for metric in self._metrics:
            lines.extend(metric.render())
        for name, help_text, collect in self._gauges:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} gauge")
            for sample_name, labels, value in collect():
                lines.append(f"{sample_name}{_labels(labels)} {_num(value)}")
        return "\n".join(lines) + "\n"
