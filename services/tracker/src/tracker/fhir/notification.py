"""The Tasks and CarePlans in a FHIR Subscription notification. Pure.

R4B and the R4 Subscriptions Backport IG send a ``history`` Bundle whose first entry is
the notification's status (a ``SubscriptionStatus`` in R4B, a ``Parameters`` in R4), and
R5 a ``subscription-notification`` Bundle of the same shape; the entries after it are
the resources that changed. Only ``full-resource`` notifications carry the resources:
an ``id-only`` one would need us to read the EHR's server, which the adapter does not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracker.fhir.outcome import Issue, Unmappable, informational

BUNDLE_TYPES = frozenset({"history", "subscription-notification"})
STATUS_TYPES = frozenset({"SubscriptionStatus", "Parameters"})
READ = frozenset({"Task", "CarePlan"})


@dataclass(frozen=True)
class Notification:
    resources: tuple[tuple[int, dict[str, Any]], ...]  # (entry index, a Task or CarePlan)
    issues: tuple[Issue, ...]  # entries left out, and why


def notification(body: Any) -> Notification:
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise Unmappable.at("Bundle", "expected a Bundle (a Subscription notification)", "invalid")
    kind = body.get("type")
    if kind not in BUNDLE_TYPES:
        raise Unmappable.at(
            "Bundle.type", f"expected a history (or subscription-notification) Bundle, not {kind!r}"
        )
    entries = body.get("entry") or []
    if not isinstance(entries, list):
        raise Unmappable.at("Bundle.entry", "entry must be a list", "structure")
    resources, issues = [], []
    for i, entry in enumerate(entries):
        found, issue = _entry(i, entry)
        if found is not None:
            resources.append((i, found))
        if issue is not None:
            issues.append(issue)
    return Notification(tuple(resources), tuple(issues))


def _entry(i: int, entry: Any) -> tuple[dict[str, Any] | None, Issue | None]:
    at = f"Bundle.entry[{i}]"
    resource = entry.get("resource") if isinstance(entry, dict) else None
    if not isinstance(resource, dict):
        method = (entry.get("request") or {}).get("method") if isinstance(entry, dict) else None
        if method == "DELETE":
            return None, informational("a deleted resource: cancel it instead", at)
        return None, Issue(
            f"{at}.resource",
            "no resource: subscribe with full-resource content (id-only is not supported)",
            "not-supported",
        )
    kind = resource.get("resourceType")
    if i == 0 and kind in STATUS_TYPES:
        return None, None  # the notification's status, not a change
    if kind not in READ:
        message = f"a {kind} is not read (only Tasks and CarePlans are)"
        return None, informational(message, f"{at}.resource")
    return resource, None
