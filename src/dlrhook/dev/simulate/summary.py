"""What a run did, counted from the receiver's answers."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Summary:
    """What the run did, from the receiver's answers."""

    target: str
    reports: int = 0
    resent: int = 0
    batches: int = 0
    requests: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def failed(self) -> int:
        """Batches not answered 200 (a batch never sent counts as failed too)."""
        return max(self.batches, self.requests) - self.statuses.get("200", 0)

    def percentile(self, q: float) -> float:
        """Latency percentile *q* (0-100) in seconds, nearest-rank; 0 with no requests."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "reports": self.reports,
            "resent": self.resent,
            "requests": self.requests,
            "statuses": dict(sorted(self.statuses.items())),
            "failed": self.failed,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "elapsed_s": round(self.elapsed, 3),
            "reports_per_s": round(self.reports / self.elapsed, 1) if self.elapsed else 0.0,
            "requests_per_s": round(self.requests / self.elapsed, 1) if self.elapsed else 0.0,
            "latency_p50_ms": round(self.percentile(50) * 1000, 2),
            "latency_p99_ms": round(self.percentile(99) * 1000, 2),
            "first_failures": self.failures[:5],
        }

    def text(self) -> str:
        d = self.as_dict()
        statuses = ", ".join(f"{k}: {v}" for k, v in d["statuses"].items()) or "none"
        lines = [
            f"target        {d['target']}",
            f"reports sent  {d['reports']} ({d['resent']} of them re-sends)",
            f"requests      {d['requests']} ({statuses}); failed {d['failed']}",
            f"answers       accepted {d['accepted']}, duplicates {d['duplicates']}, quarantined {d['quarantined']}",
            f"throughput    {d['reports_per_s']} reports/s, {d['requests_per_s']} requests/s over {d['elapsed_s']} s",
            f"latency       p50 {d['latency_p50_ms']} ms, p99 {d['latency_p99_ms']} ms",
        ]
        lines += [f"failure       {f}" for f in d["first_failures"]]
        return "\n".join(lines)
