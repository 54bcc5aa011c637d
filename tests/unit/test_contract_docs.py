"""The published contract documents match the code, and the check notices when they don't."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scripts import contract_docs
from shared.contracts import ActivityCancelled
from shared.contracts.examples import examples

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def docs_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    return tmp_path


def test_committed_documents_are_up_to_date() -> None:
    assert contract_docs.check(ROOT) == 0


def test_edited_document_is_reported(docs_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    schema = docs_copy / "docs/schemas/inbound/activity.assigned.schema.json"
    schema.write_text(schema.read_text().replace('"client_ref"', '"patient_name"', 1))
    assert contract_docs.check(docs_copy) == 1
    assert "activity.assigned.schema.json" in capsys.readouterr().out


def test_model_change_without_regeneration_is_reported(
    docs_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class ActivityCancelledV2(ActivityCancelled):
        reason_code: str = "therapist"

    changed = dict(examples())
    old = changed["activity.cancelled"]
    changed["activity.cancelled"] = ActivityCancelledV2(**old.model_dump())
    monkeypatch.setattr(contract_docs, "examples", lambda: changed)
    assert contract_docs.check(docs_copy) == 1
    out = capsys.readouterr().out
    assert "activity.cancelled" in out
    assert "reason_code" in out


def test_every_ehr_facing_event_has_a_schema_and_an_example() -> None:
    for tag in ("activity.assigned", "clinic.policy.changed", "adherence.summary"):
        assert (ROOT / f"docs/examples/{tag}.json").exists()
    assert (ROOT / "docs/schemas/inbound/activity.assigned.schema.json").exists()
    assert (ROOT / "docs/schemas/outbound/clinician.alert.schema.json").exists()
    assert (ROOT / "docs/asyncapi/scheduler.json").exists()
