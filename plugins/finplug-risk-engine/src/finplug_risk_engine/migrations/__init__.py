"""The risk engine's Alembic revisions (version table ``alembic_version_risk-engine``)."""
