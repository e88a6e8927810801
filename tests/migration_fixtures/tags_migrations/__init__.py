"""Revisions of the test plugin ``note-tags``, which requires ``sticky-notes``."""
