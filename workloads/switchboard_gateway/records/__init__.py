"""What is kept of a call: the record, its schema, and the SQLite and PostgreSQL stores."""
