"""Notifications: alert documents, the durable outbox, and one sender per notifier type."""
