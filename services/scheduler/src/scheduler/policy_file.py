"""A clinic policy file: YAML in, a validated ``ClinicPolicyChanged`` out, or a list of
problems that each name the field and the reason. Pure: no broker and no file system.

The file has two top-level keys: ``clinic_id`` (optional when given on the command line)
and ``policy`` (a ``shared.contracts.ClinicPolicy``). Unlike events on the wire, a file is
written by hand, so unknown fields are refused: a misspelt ``quiet_hour`` must not be
silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from shared.contracts import ClinicPolicyChanged, new_envelope

MAX_BYTES = 256 * 1024
# Aliases let a tiny file expand into a huge tree ("billion laughs"); a real policy has
# a few hundred nodes at most.
MAX_NODES = 20_000
TOP_LEVEL = ("clinic_id", "policy")

_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"


class PolicyFileError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _Loader(yaml.SafeLoader):
    """Safe YAML without YAML 1.1's traps for hand-written policies: ``21:00`` stays a
    string (1.1 reads it as the base-60 integer 1260), ``no`` stays a string (a language
    code, not False), and a repeated key is an error rather than a silent overwrite."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            if isinstance(key, Hashable):
                seen.add(key)
        return super().construct_mapping(node, deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _BOOL)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _INT,
    re.compile(r"^[-+]?(?:0|[1-9][0-9_]*|0b[01_]+|0x[0-9a-fA-F_]+|0[0-7_]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def parse_policy_file(text: bytes | str, clinic_id: str | None = None) -> ClinicPolicyChanged:
    """The event a file stands for; ``clinic_id`` (from the command line) wins over the
    file's. Raises ``PolicyFileError`` listing every problem found."""
    document = _mapping(_load(text))
    problems = [
        f"{key}: unknown top-level field (expected clinic_id and policy)"
        for key in document
        if key not in TOP_LEVEL
    ]
    clinic = clinic_id if clinic_id is not None else document.get("clinic_id")
    if clinic is None:
        problems.append("clinic_id: missing: give it in the file or with --clinic")
    if "policy" not in document:
        problems.append("policy: missing: put the policy's fields under a top-level 'policy:'")
    if problems:
        raise PolicyFileError(problems)
    try:
        # The command is the publisher here, so it starts the event's chain itself.
        return ClinicPolicyChanged.model_validate(
            {**new_envelope(), "clinic_id": clinic, "policy": document["policy"]}, extra="forbid"
        )
    except ValidationError as exc:
        raise PolicyFileError([describe(e) for e in exc.errors()]) from None


def describe(error: ErrorDetails) -> str:
    """``<field path>: <reason>`` for one validation error."""
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
    reason = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        reason = "unknown field (misspelt? see policies/example.yaml)"
    value = error.get("input")
    if error["type"] not in ("missing", "extra_forbidden") and isinstance(
        value, str | int | float | bool
    ):
        reason += f" (got {_short(repr(value))})"
    return f"{path.lstrip('.') or 'policy file'}: {reason}"


def _load(text: bytes | str) -> object:
    if len(text) > MAX_BYTES:
        raise PolicyFileError([f"file: larger than {MAX_BYTES} bytes; is it a policy?"])
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
        raise PolicyFileError([f"{where}: not valid YAML: {exc.problem or exc}"]) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise PolicyFileError([f"file: not valid YAML: {_short(str(exc))}"]) from None
    _check_size(data)
    return data


def _mapping(data: object) -> dict[Any, Any]:
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise PolicyFileError([f"file: expected a mapping with clinic_id and policy, got {kind}"])
    return data


def _check_size(data: object) -> None:
    stack, count = [data], 0
    while stack:
        item = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise PolicyFileError([f"file: more than {MAX_NODES} values (alias expansion?)"])
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
