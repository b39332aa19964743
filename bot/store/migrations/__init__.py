"""``NNNN_name.sql``: one numbered history for SQLite and PostgreSQL. Write column types as
``{ID}``, ``{INT}``, ``{REAL}`` and ``{BLOB}`` (each engine fills them in, bot/store/db.py) and SQL
both engines accept."""
