"""Why a FHIR resource was refused, as the ``OperationOutcome`` an EHR expects back.

Every refusal names the element it is about as a FHIRPath ``expression`` (for example
``Task.input[0].valueTiming.repeat.periodUnit``), so an integrator sees at once what to
change."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fhir.resources.R4B.operationoutcome import OperationOutcome
from pydantic import ValidationError

Severity = Literal["fatal", "error", "warning", "information"]
# https://hl7.org/fhir/R4/valueset-issue-type.html
IssueCode = Literal[
    "invalid",
    "structure",
    "required",
    "value",
    "not-supported",
    "too-long",
    "transient",
    "informational",
]


@dataclass(frozen=True)
class Issue:
    expression: str
    message: str
    code: IssueCode = "value"
    severity: Severity = "error"


class Unmappable(Exception):
    """A resource we cannot turn into our events; each issue names its element."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        super().__init__("; ".join(f"{i.expression}: {i.message}" for i in issues))
        self.issues = tuple(issues)

    @classmethod
    def at(cls, expression: str, message: str, code: IssueCode = "value") -> Unmappable:
        return cls([Issue(expression, message, code)])

    def under(self, prefix: str) -> Unmappable:
        """The same issues inside a container, e.g. ``Bundle.entry[2].resource``."""
        return Unmappable([_prefixed(prefix, i) for i in self.issues])


def _prefixed(prefix: str, issue: Issue) -> Issue:
    _, _, rest = issue.expression.partition(".")  # drops the resource type
    path = f"{prefix}.{rest}" if rest else prefix
    return Issue(path, issue.message, issue.code, issue.severity)


def fhir_path(resource_type: str, loc: Iterable[int | str]) -> str:
    """A pydantic error location as FHIRPath: ('input', 0, 'valueTiming') ->
    ``Task.input[0].valueTiming``."""
    path = resource_type
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def from_validation(resource_type: str, exc: ValidationError) -> Unmappable:
    """fhir.resources' own refusal (a wrong type, an unknown element) as issues."""
    issues = []
    for error in exc.errors(include_url=False):
        loc = [p for p in error["loc"] if p != "resource_type"]
        code: IssueCode = "structure" if error["type"] == "extra_forbidden" else "value"
        issues.append(Issue(fhir_path(resource_type, loc), error["msg"].strip(), code))
    return Unmappable(issues)


def outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    """An R4 ``OperationOutcome`` as JSON, validated by fhir.resources."""
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": i.severity,
                "code": i.code,
                "diagnostics": i.message,
                "expression": [i.expression],
            }
            for i in issues
        ],
    }
    return OperationOutcome.model_validate(body).model_dump(mode="json", exclude_none=True)


def informational(message: str, expression: str) -> Issue:
    return Issue(expression, message, "informational", "information")
