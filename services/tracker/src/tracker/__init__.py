"""Tracker: completions, delivery status, adherence, EHR summaries and the ops dashboard."""
