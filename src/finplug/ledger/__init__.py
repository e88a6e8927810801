"""The kernel's double-entry ledger, one job per module (docs/ledger.md, "Layout").

Its public names are exported by :mod:`finplug` (``from finplug import Leg``);
the modules here are the kernel's own:

* :mod:`~finplug.ledger.values`: accounts, legs, entries, balances, checkpoints;
* :mod:`~finplug.ledger.errors`: the ledger's errors;
* :mod:`~finplug.ledger.checks`: every public method's argument checks;
* :mod:`~finplug.ledger.rules`: the posting rules, pure (idempotency, legs
  into balanced transfer rows, holds and reversals, overdrafts);
* :mod:`~finplug.ledger.chain`: the hash chains, checkpoints, verification;
* :mod:`~finplug.ledger.rows`: entries encoded as transfer rows and read back;
* :mod:`~finplug.ledger.schema`: the tables, their database guards, installation;
* :mod:`~finplug.ledger.statements`: the hot SQL, built once per kind of database;
* :mod:`~finplug.ledger.store`: every read and write, on one connection;
* :mod:`~finplug.ledger.session`: :class:`~finplug.LedgerSession`, one transaction's API;
* :mod:`~finplug.ledger.facade`: ``Ledger``, the tenant's ``ledger`` component;
* :mod:`~finplug.ledger.export`: the Beancount export.
"""
