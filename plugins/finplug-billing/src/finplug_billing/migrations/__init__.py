"""The billing plugin's Alembic revisions (table ``alembic_version_billing``)."""
