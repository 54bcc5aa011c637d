"""Turn hourly counter hashes into what the dashboard shows (pure)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

OUTCOMES = (
    "sent",
    "delivered",
    "failed",
    "undelivered",
    "bounced",
    "complained",
    "opted_out",
    "suppressed",
    "retried",
)
FAILED = ("failed", "undelivered", "bounced", "opted_out")


def summarize(
    hours: list[datetime], per_clinic: Mapping[str, list[dict[str, int]]]
) -> dict[str, Any]:
    """Series per hour, totals, and breakdowns by channel, provider, clinic and reason."""
    points: list[Counter[str]] = [Counter() for _ in hours]
    totals: Counter[str] = Counter()
    by: dict[str, dict[str, Counter[str]]] = {
        "channel": defaultdict(Counter),
        "provider": defaultdict(Counter),
        "clinic": defaultdict(Counter),
    }
    reasons: Counter[str] = Counter()
    opt: dict[str, Counter[str]] = {"optout": Counter(), "optin": Counter()}
    for clinic, rows in per_clinic.items():
        for point, row in zip(points, rows, strict=True):
            for field, n in row.items():
                kind, _, rest = field.partition("|")
                if kind == "reason":
                    reasons[rest] += n
                elif kind in opt:
                    opt[kind][rest.partition("|")[0]] += n
                else:
                    provider, _, outcome = rest.partition("|")
                    if outcome not in OUTCOMES:
                        continue
                    point[outcome] += n
                    totals[outcome] += n
                    by["channel"][kind][outcome] += n
                    by["provider"][provider][outcome] += n
                    by["clinic"][clinic][outcome] += n
    series = [
        {"t": h.isoformat(), **{o: p[o] for o in OUTCOMES}, "failed_all": _failed(p)}
        for h, p in zip(hours, points, strict=True)
    ]
    return {
        "series": series,
        "totals": {o: totals[o] for o in OUTCOMES} | {"failed_all": _failed(totals)},
        "by_channel": _table(by["channel"]),
        "by_provider": _table(by["provider"]),
        "by_clinic": _table(by["clinic"]),
        "failure_reasons": dict(reasons.most_common(20)),
        "opt_outs": dict(opt["optout"]),
        "opt_ins": dict(opt["optin"]),
    }


def _failed(counts: Mapping[str, int]) -> int:
    return sum(counts.get(o, 0) for o in FAILED)


def _table(groups: Mapping[str, Counter[str]]) -> dict[str, dict[str, int]]:
    return {
        name: {o: c[o] for o in OUTCOMES} | {"failed_all": _failed(c)}
        for name, c in sorted(groups.items())
    }


def merge_latest(rows: Iterable[list[dict[str, str]]], limit: int) -> list[dict[str, str]]:
    """Newest first across clinics (entries carry an ISO ``at``)."""
    flat = [r for group in rows for r in group]
    return sorted(flat, key=lambda r: r.get("at", ""), reverse=True)[:limit]
