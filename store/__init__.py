"""The SQL store: schema, engine, upsert and Alembic migrations."""
