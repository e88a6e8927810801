"""``python -m finplug``: the same as the ``finplug`` command."""

from finplug.cli import main

main()
