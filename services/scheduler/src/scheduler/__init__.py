"""Scheduler: plans reminders from assignments and clinic policies; fires durable timers."""
