"""The payments plugin's Alembic revisions (version table ``alembic_version_payments``)."""
