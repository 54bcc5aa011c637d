"""The use cases: load what a decision needs, decide (``tracker.decide``), commit once, publish."""
