"""Message text, pure: templates rendered per language and SMS length and fitting. The
notifier sends with it; the tracker's policy console previews with the very same code."""
