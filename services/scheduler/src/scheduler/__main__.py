from __future__ import annotations

from scheduler.app import NAME, create_app
from scheduler.settings import SchedulerSettings
from shared.service import run


def main() -> None:
    settings = SchedulerSettings()
    run(create_app(settings), settings, NAME)


if __name__ == "__main__":
    main()
