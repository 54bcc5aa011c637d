from __future__ import annotations

from shared.service import run
from tracker.app import NAME, create_app
from tracker.settings import TrackerSettings


def main() -> None:
    settings = TrackerSettings()
    run(create_app(settings), settings, NAME)


if __name__ == "__main__":
    main()
