"""SQL storage for chat (SQLAlchemy 2 async, Alembic): SQLite in WAL mode or PostgreSQL."""
