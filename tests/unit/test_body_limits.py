"""Bodies too large or too deep are refused before parsing, cheaply for normal ones."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from shared.contracts import ehr_event_adapter
from shared.contracts.examples import examples
from shared.handling import (
    MAX_JSON_DEPTH,
    json_depth_exceeds,
    oversized_reason,
    permanent_reason,
)


def nested(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


def test_depth_is_measured_in_levels_of_objects_and_arrays() -> None:
    assert not json_depth_exceeds(nested(32), 32)
    assert json_depth_exceeds(nested(33), 32)
    assert json_depth_exceeds(b"[" * 5000 + b"]" * 5000, 32)
    assert not json_depth_exceeds(json.dumps([[1], [2], [3]] * 100).encode(), 3)


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"note": "[[[[{{{{" * 50 + '\\" [[{{', "list": [1, 2]}).encode()
    assert not json_depth_exceeds(text, 2)


def test_every_example_event_passes_and_the_limits_are_named() -> None:
    for event in examples().values():
        assert oversized_reason(event.model_dump_json().encode(), 256 * 1024, 32) is None
    too_big = oversized_reason(b" " * 300_000, 256 * 1024, 32)
    assert too_big == "body is 300000 bytes, over the limit of 262144 bytes"
    too_deep = oversized_reason(nested(40), 256 * 1024, MAX_JSON_DEPTH)
    assert too_deep is not None
    assert "deeper than the limit of 32 levels" in too_deep


def test_a_body_the_decoder_cannot_handle_is_permanent_not_a_bug_to_retry() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises((ValidationError, RecursionError)) as caught:
        ehr_event_adapter.validate_json(deep)
    assert permanent_reason(caught.value, deep) is not None
    assert permanent_reason(RecursionError("maximum recursion depth exceeded"), deep)
