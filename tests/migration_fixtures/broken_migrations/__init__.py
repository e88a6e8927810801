"""Revisions of the test plugin ``broken``: the second one fails."""
