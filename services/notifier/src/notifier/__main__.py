from __future__ import annotations

from notifier.app import NAME, create_app
from notifier.settings import NotifierSettings
from shared.service import run


def main() -> None:
    settings = NotifierSettings()
    run(create_app(settings), settings, NAME)


if __name__ == "__main__":
    main()
