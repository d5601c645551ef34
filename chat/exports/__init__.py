"""Exports: a room's history and a person's own data, as ZIP files made by the
worker (durable jobs, chatsite/core/jobs.py), downloaded by the person who
asked within CHAT_EXPORT_HOURS. The formats are in docs/data.md.

An edge like chat.notify: it reads (selectors, models, the renderers) and
writes only its own files and its job's row."""
