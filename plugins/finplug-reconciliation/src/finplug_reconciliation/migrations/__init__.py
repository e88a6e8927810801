"""The reconciliation plugin's Alembic revisions (table ``alembic_version_reconciliation``)."""
