"""Reading the FHIR elements a Task and a CarePlan have in common, in our terms. Pure.

Versions, references, our extensions (reminder policy, the client's time zone), the
activity's code and a schedule from a Timing: each refusal names its element under the
resource's own name (``Task.for.reference``, ``CarePlan.subject.reference``)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.domainresource import DomainResource
from fhir.resources.R4B.reference import Reference
from pydantic import ValidationError

from shared.contracts import Activity, ActivityKind, Schedule, derived_event_id
from tracker.fhir.outcome import Unmappable
from tracker.fhir.timing import Recurrence
from tracker.settings import FhirClinicDefaults

CANONICAL = "https://between-sessions.example/fhir"
POLICY_EXTENSION = f"{CANONICAL}/StructureDefinition/policy-id"
ACTIVITY_KIND_SYSTEM = f"{CANONICAL}/CodeSystem/activity-kind"
TIMEZONE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/timezone"  # FHIR core
TITLE_MAX = 200  # the contract's ShortText
REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")  # the contracts' Ref
# Patient/123, https://ehr.example/fhir/Patient/123, Patient/123/_history/4
_LITERAL = re.compile(
    r"(?:^|/)(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$"
)


@dataclass(frozen=True)
class Version:
    """The resource version an event stands for: ``number`` orders versions downstream
    (an older or equal one is ignored); ``key`` tells two versions apart for event ids."""

    number: int
    key: str


def version(resource: DomainResource, name: str) -> Version:
    """``meta.versionId`` when it is a counter (what most FHIR servers give), else
    ``meta.lastUpdated`` in milliseconds (servers with opaque version ids), else 1 (a
    resource sent without meta is its first version; its content tells repeats apart)."""
    meta = resource.meta
    version_id = meta.versionId if meta else None
    if version_id and version_id.isdigit() and int(version_id) >= 1:
        return Version(int(version_id), f"v{version_id}")
    updated = meta.lastUpdated if meta else None
    if isinstance(updated, datetime):
        return Version(int(updated.timestamp() * 1000), f"t{updated.isoformat()}")
    if version_id:
        raise Unmappable.at(
            f"{name}.meta.versionId",
            f"version id {version_id!r} is not a counter: send meta.lastUpdated with it",
        )
    return Version(1, f"c{_content_hash(resource)}")


def _content_hash(resource: DomainResource) -> str:
    body = resource.model_dump(mode="json", exclude_none=True, exclude={"meta", "text"})
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]


def resource_id(resource: DomainResource, name: str, role: str) -> str:
    if not resource.id:
        raise Unmappable.at(
            f"{name}.id", f"the EHR's {name} id is required: it is the {role}", "required"
        )
    return resource.id


def reference_id(ref: Reference | None, path: str, types: tuple[str, ...]) -> str:
    """The id of a literal reference to one of ``types`` (relative, absolute or versioned)."""
    text = ref.reference if ref is not None else None
    if not text:
        raise Unmappable.at(
            f"{path}.reference", f"a reference to {' or '.join(types)} is required", "required"
        )
    match = _LITERAL.search(text)
    if match is None or match["type"] not in types:
        raise Unmappable.at(
            f"{path}.reference", f"{text!r} is not a reference to {' or '.join(types)}"
        )
    ref_id = match["id"]
    if not REF.match(ref_id):
        raise Unmappable.at(f"{path}.reference", f"id {ref_id!r} must start with a letter or digit")
    return ref_id


def extension_text(resource: DomainResource, name: str, url: str) -> tuple[str, str] | None:
    """(value, its path) of a code/id/string extension on the resource."""
    for i, ext in enumerate(resource.extension or ()):
        if ext.url != url:
            continue
        for field in ("valueCode", "valueId", "valueString"):
            value = getattr(ext, field)
            if value:
                return str(value), f"{name}.extension[{i}].{field}"
        raise Unmappable.at(f"{name}.extension[{i}]", f"{url} needs a valueCode or valueString")
    return None


def policy(resource: DomainResource, name: str, defaults: FhirClinicDefaults | None) -> str:
    found = extension_text(resource, name, POLICY_EXTENSION)
    if found is not None:
        value, path = found
        if not REF.match(value):
            raise Unmappable.at(path, f"{value!r} is not a policy id")
        return value
    if defaults is not None and defaults.policy_id:
        return defaults.policy_id
    raise Unmappable.at(
        f"{name}.extension",
        f"no reminder policy: add the extension {POLICY_EXTENSION} (valueId) or configure "
        "the clinic's default in TRACKER_FHIR_CLINICS",
        "required",
    )


def zone(resource: DomainResource, name: str, defaults: FhirClinicDefaults | None) -> ZoneInfo:
    found = extension_text(resource, name, TIMEZONE_EXTENSION)
    if found is None:
        if defaults is not None and defaults.timezone:
            return ZoneInfo(defaults.timezone)
        raise Unmappable.at(
            f"{name}.extension",
            f"no time zone for the client: add the extension {TIMEZONE_EXTENSION} (valueCode, "
            "an IANA name) or configure the clinic's default in TRACKER_FHIR_CLINICS",
            "required",
        )
    value, path = found
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise Unmappable.at(path, f"unknown IANA time zone {value!r}") from None


def activity(code: CodeableConcept | None, description: str | None, path: str) -> Activity:
    """Kind from a coding in our activity-kind system (``other`` without one); the title,
    internal to clinicians, from the code's text or display, else the description."""
    kind = ActivityKind.OTHER
    codings = (code.coding or []) if code else []
    for i, coding in enumerate(codings):
        if coding.system == ACTIVITY_KIND_SYSTEM:
            try:
                kind = ActivityKind(coding.code or "")
            except ValueError:
                known = ", ".join(k.value for k in ActivityKind)
                raise Unmappable.at(
                    f"{path}.coding[{i}].code", f"{coding.code!r} is not one of {known}"
                ) from None
    names = [code.text if code else None, *(c.display for c in codings)]
    title = next((n for n in (*names, description) if n), "Activity")
    return Activity(kind=kind, title=title.strip()[:TITLE_MAX])


@dataclass(frozen=True)
class Window:
    """What the resource around the Timing says of the days: the first (if the Timing
    has no bounds), the last, and how many times in all."""

    start: date | None
    end: date | None
    count: int | None = None
    start_path: str = ""
    end_path: str = ""


def schedule(tz: ZoneInfo, rec: Recurrence, path: str, window: Window) -> Schedule:
    """Our schedule from a Timing's recurrence within the resource's window. A Timing
    that does not repeat (bounds only) is one activity due on its last day."""
    start = rec.start or window.start
    end = rec.end or window.end
    if rec.rrule is None:
        if end is None:
            raise Unmappable.at(
                f"{path}.repeat.boundsPeriod.end",
                "a Timing without repeat rules is one activity: give its due day",
                "required",
            )
        return _valid(
            path, timezone=str(tz), start=min(start or end, end), due=end, frequency="once"
        )
    if start is None:
        raise Unmappable.at(
            f"{path}.repeat.boundsPeriod.start",
            f"no first day: give boundsPeriod.start (or {window.start_path})",
            "required",
        )
    return _valid(
        path,
        timezone=str(tz),
        start=start,
        end=end,
        rrule=rec.with_count(window.count),
        times_of_day=rec.times_of_day,
    )


def one_off(tz: ZoneInfo, window: Window, missing: str) -> Schedule:
    """No Timing: one activity due on the window's last day."""
    if window.end is None:
        raise Unmappable.at(
            missing,
            f"no schedule: give a Timing, or a due day in {window.end_path}",
            "required",
        )
    start = min(window.start or window.end, window.end)
    return _valid(missing, timezone=str(tz), start=start, due=window.end, frequency="once")


def _valid(path: str, **fields: Any) -> Schedule:
    try:
        return Schedule(**fields)
    except ValidationError as exc:
        message = "; ".join(e["msg"] for e in exc.errors(include_url=False))
        raise Unmappable.at(path, message) from None


def envelope(
    clinic_id: str, source: str, ver: Version, kind: str, occurred_at: datetime
) -> dict[str, Any]:
    """The envelope of the event a resource version stands for. ``source`` names what
    the event is about (``Task/<id>``, ``CarePlan/<id>#<activity>``); the id is derived,
    so the same version sent again is the same event (a repeat downstream), per clinic."""
    return {
        "event_id": derived_event_id("fhir", clinic_id, source, ver.key, kind),
        "occurred_at": occurred_at,
        "correlation_id": f"fhir:{source}/_history/{ver.number}"[:128],
        "clinic_id": clinic_id,
    }
