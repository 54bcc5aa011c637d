"""One structlog setup for every service: JSON lines in production, pretty on a terminal.

Health messages must never leak contact points or message text into logs, so a
redaction processor runs on every event, including stdlib records from libraries.

Our own lines go through structlog's native filtering logger straight to stderr; only
libraries' records (FastStream, uvicorn, aio-pika) take the stdlib route. Routing ours
through stdlib as well cost a LogRecord, a handler and a formatter per line, and ran the
whole processor chain even for lines the level then dropped. Lines are serialized by
pydantic-core (``to_json``), four times quicker than ``json.dumps`` for a summary line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any, TextIO

import structlog
from pydantic_core import to_json

REDACTED = "[redacted]"
# Keys whose values are contact points or message content.
SENSITIVE_KEYS = frozenset(
    {
        "phone",
        "phone_number",
        "to",
        "from",
        "from_",
        "sms",
        "email",
        "address",
        "recipient",
        "body",
        "text",
        "html",
        "subject",
        "message_body",
        "contacts",
        "push",
        "endpoint",
        "p256dh",
        "auth",
        "note",
        "token",
    }
)
_PHONE = re.compile(r"(?<![\w+])\+\d{7,15}\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def scrub_text(value: str) -> str:
    """Mask phone numbers and email addresses inside free text."""
    # A phone number needs a "+" and an address an "@": most values (ids, times, names)
    # have neither, and the check runs in C where the two patterns would scan in full.
    if "+" not in value and "@" not in value:
        return value
    return _EMAIL.sub("[email]", _PHONE.sub("[phone]", value))


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 6:
        return value
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {
            k: REDACTED if str(k).lower() in SENSITIVE_KEYS else _scrub(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v, depth + 1) for v in value]
    return value


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: drop sensitive keys, mask contact points in all strings."""
    for key in list(event_dict):
        if key.lower() in SENSITIVE_KEYS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


class _NamedWriteLogger(structlog.WriteLogger):
    """Writes lines to a file; has a ``name`` like a stdlib logger (``add_logger_name``)."""

    def __init__(self, file: TextIO, name: str | None) -> None:
        super().__init__(file)
        self.name = name


def add_timestamp(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """``timestamp``: ISO 8601 in UTC with a ``Z``, as structlog's ``TimeStamper`` writes
    it, in half its time."""
    event_dict["timestamp"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return event_dict


def json_line(event_dict: Any, **_: Any) -> str:
    """``JSONRenderer``'s serializer: a value JSON has no type for is written as its str."""
    return to_json(event_dict, serialize_unknown=True).decode()


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        add_timestamp,
        structlog.processors.format_exc_info,
        redact,
    ]


def configure_logging(service: str, level: str = "INFO", fmt: str = "auto") -> None:
    """Configure structlog, and route stdlib logging (FastStream, uvicorn) through the
    same processors."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=json_line)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    level_no = logging.getLevelNamesMapping()[level.upper()]
    stream = sys.stderr  # as it is now: a test's capture replaces it

    def write_logger(*args: Any) -> _NamedWriteLogger:
        return _NamedWriteLogger(stream, args[0] if args else None)

    structlog.configure(
        processors=[*_shared_processors(), renderer],
        logger_factory=write_logger,
        # Below the level a call returns at once, before any processor runs.
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level_no)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger
