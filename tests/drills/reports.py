"""Where a drill's counts go: printed, and kept under artifacts/drills/ because the output
of pytest-xdist workers is not shown (scripts/test.sh prints the files after the run)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tests.support.services import ROOT

DRILL_REPORTS = ROOT / "artifacts" / "drills"


def report(counts: Mapping[str, Any]) -> None:
    """``counts`` names its drill under ``"drill"``."""
    line = json.dumps(counts)
    print(line)
    DRILL_REPORTS.mkdir(parents=True, exist_ok=True)
    (DRILL_REPORTS / f"{counts['drill']}.json").write_text(line + "\n")
