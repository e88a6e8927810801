"""Revisions of the test plugin ``sticky-notes``: a notes table that refers to ledger accounts."""
