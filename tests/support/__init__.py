"""Helpers for tests that use the real RabbitMQ and Redis."""
