"""Alembic revision packages used as data by tests/test_migrations.py."""
