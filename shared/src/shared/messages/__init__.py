"""Message text, pure: the built-in texts per language (``languages/``, ``catalogue``),
templates rendered from them or a clinic's own, keyword replies, SMS length and fitting,
and the texts of the pages a client opens from a message (``pages``). The notifier sends
with it; the tracker's policy console previews with the very same code."""
