"""Notifier: renders and sends reminders by SMS, email and push; reports what happened."""
