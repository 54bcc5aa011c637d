"""Message text, pure: the built-in texts per language (``languages/``, ``catalogue``),
templates rendered from them or a clinic's own, keyword replies, and SMS length and
fitting. The notifier sends with it; the tracker's policy console previews with the very
same code."""
