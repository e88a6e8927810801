"""The kernel's Alembic revision scripts: owner ``kernel``, table ``alembic_version_kernel``.

Run by ``finplug db upgrade`` / :meth:`finplug.Platform.upgrade` for every
tenant, before any plugin's migrations. The history is linear:

* ``0001`` (``r0001_ledger.py``): the ledger's tables, guards and chain head.
* ``0002`` (``r0002_events.py``): the event outbox.
* ``0003`` (``r0003_ledger_account_guard.py``): on PostgreSQL, a statement
  trigger instead of the transfer rows' ``(account, currency)`` foreign keys.
* ``0004`` (``r0004_ledger_account_definitions.py``): every column of an
  account's definition immutable, and its hash recorded in a chain
  (``ledger_account_chain``) that ``verify()`` checks.
* ``0005`` (``r0005_idempotency.py``): the idempotency service's keys
  (``idempotency_keys``).

To add a revision: copy the last script to ``r<NNNN>_<what>.py``, set
``revision = "<NNNN>"`` and ``down_revision`` to the previous revision, and
write ``upgrade()`` with :mod:`alembic.op` (tables without a schema: the
tenant's is mapped in). Nothing else needs registering; there is no
``env.py`` and no ``alembic.ini``. finplug never downgrades, so
``downgrade()`` is not needed. ``tests/test_migrations.py`` checks that the
history stays linear.
"""
