"""The settlement plugin's Alembic revisions (version table ``alembic_version_settlement``)."""
