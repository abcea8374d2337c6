"""Alembic migrations of the chat schema (run by confab.adapters.sql.migrate)."""
