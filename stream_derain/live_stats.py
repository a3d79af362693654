"""Live-run statistics in constant memory: frame rates, drops, and latency percentiles.

A live run can last days, so nothing here grows with the number of frames: latency goes into a
histogram with log-spaced bins (1% wide, so a percentile is within 1% of the exact value) and
the rates are counted over a sliding window of a few seconds.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass

_LOW_S = 1e-4  # latencies below 0.1 ms land in the first bin, above _HIGH_S in the last
_HIGH_S = 1e3
_GROWTH = 1.01


class LatencyHistogram:
    """Percentiles of a stream of durations (seconds) with fixed memory; the maximum is exact."""

    def __init__(self) -> None:
        self._bins = [0] * (math.ceil(math.log(_HIGH_S / _LOW_S, _GROWTH)) + 1)
        self.count = 0
        self.max = 0.0

    def add(self, seconds: float) -> None:
        ratio = max(seconds, _LOW_S) / _LOW_S
        self._bins[min(int(math.log(ratio, _GROWTH)), len(self._bins) - 1)] += 1
        self.count += 1
        self.max = max(self.max, seconds)

    def percentile(self, q: float) -> float:
        """The q-th percentile (0-100) in seconds, the upper edge of its bin; 0 when empty."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(q / 100 * self.count))
        seen = 0
        for index, count in enumerate(self._bins):
            seen += count
            if seen >= rank:
                return min(_LOW_S * _GROWTH ** (index + 1), self.max)
        return self.max

    def summary_ms(self) -> dict[str, float]:
        return {
            "p50": round(self.percentile(50) * 1e3, 2),
            "p95": round(self.percentile(95) * 1e3, 2),
            "max": round(self.max * 1e3, 2),
        }


class RateMeter:
    """Events per second over the last `window` seconds (what a display shows now)."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self._times: deque[float] = deque()

    def tick(self, now: float) -> None:
        self._times.append(now)
        self._forget(now)

    def rate(self, now: float) -> float:
        self._forget(now)
        if len(self._times) < 2:
            return 0.0
        span = max(now - self._times[0], self._times[-1] - self._times[0])
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def _forget(self, now: float) -> None:
        while self._times and self._times[0] < now - self.window:
            self._times.popleft()


@dataclass(frozen=True)
class LiveSnapshot:
    """The numbers shown on screen and in a status line, at one moment."""

    frames_in: int
    frames_out: int
    dropped: int
    fps_in: float
    fps_out: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_max_ms: float

    def line(self) -> str:
        return (
            f"in {self.fps_in:5.1f} fps  out {self.fps_out:5.1f} fps  dropped {self.dropped}  "
            f"latency p50 {self.latency_p50_ms:.0f} / p95 {self.latency_p95_ms:.0f} / max {self.latency_max_ms:.0f} ms"
        )


class LiveStats:
    """Counts a live run's frames in and out and their capture-to-output latency.

    Latency percentiles are kept for the whole run, and also per `period` seconds, so that a
    summary can show whether latency grew over the run (the last `keep_periods` are kept).
    """

    def __init__(self, period: float = 5.0, keep_periods: int = 720) -> None:
        self.started = time.monotonic()
        self.latency = LatencyHistogram()
        self.frames_out = 0
        self.period = period
        self.period_p95_ms: deque[float] = deque(maxlen=keep_periods)
        self._period_latency = LatencyHistogram()
        self._period_start = self.started
        self._rate_out = RateMeter()
        self._recent = deque(maxlen=256)  # recent latencies, for the on-screen p95 "now"

    def output(self, captured: float, now: float | None = None) -> float:
        """Record a frame that reached the sinks; `captured` is its capture time (monotonic)."""
        now = time.monotonic() if now is None else now
        latency = max(0.0, now - captured)
        self.latency.add(latency)
        if now - self._period_start >= self.period:
            self.period_p95_ms.append(round(self._period_latency.percentile(95) * 1e3, 2))
            self._period_latency = LatencyHistogram()
            self._period_start = now
        self._period_latency.add(latency)
        self._recent.append(latency)
        self._rate_out.tick(now)
        self.frames_out += 1
        return latency

    def period_p95s(self) -> list[float]:
        """The p95 latency (ms) of each period so far, the current unfinished one included."""
        current = [round(self._period_latency.percentile(95) * 1e3, 2)] if self._period_latency.count else []
        return [*self.period_p95_ms, *current]

    def snapshot(self, frames_in: int, dropped: int, fps_in: float, now: float | None = None) -> LiveSnapshot:
        now = time.monotonic() if now is None else now
        recent = sorted(self._recent)

        def recent_percentile(q: float) -> float:
            return recent[min(len(recent) - 1, math.ceil(q / 100 * len(recent)) - 1)] * 1e3 if recent else 0.0

        return LiveSnapshot(
            frames_in=frames_in,
            frames_out=self.frames_out,
            dropped=dropped,
            fps_in=fps_in,
            fps_out=self._rate_out.rate(now),
            latency_p50_ms=recent_percentile(50),
            latency_p95_ms=recent_percentile(95),
            latency_max_ms=recent[-1] * 1e3 if recent else 0.0,
        )
