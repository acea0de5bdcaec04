"""Alembic environment: migrations run on the connection the application hands over (bot.storage.migrate)."""

from __future__ import annotations

from alembic import context

from bot.storage import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called through bot.storage.migrate
    raise RuntimeError("run migrations through bot.storage.migrate(engine)")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
