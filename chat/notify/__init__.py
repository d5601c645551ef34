"""Notifications that leave the chat: the worker that sends due notification
rows by Web Push and email (docs/notifications.md)."""
