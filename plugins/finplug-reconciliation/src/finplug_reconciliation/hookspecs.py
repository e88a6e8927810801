"""The reconciliation plugin's own hooks: statement formats and statement sources.

Other plugins add a statement format (a bank's own CSV, a BAI2 reader …)
or a source that fetches files (an SFTP folder, a channel's report API) by
implementing these, naming this module in their own ``PluginMeta.hookspecs``
(``hookspecs=("finplug_reconciliation.hookspecs",)``). The reconciliation
plugin declares it too, so the hooks exist in every tenant that enables
``reconciliation``. The component calls them through
:data:`reconciliation_hooks`. A payment channel's daily report needs no hook:
its connector implements the socket's ``ChannelReports`` (the built-in
``channels`` source).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol, runtime_checkable

from finplug import HookFailurePolicy, HookView, failure_policy, hookspec
from finplug_reconciliation.formats import StatementParser

__all__ = [
    "ReconciliationHooks",
    "StatementFile",
    "StatementSource",
    "finplug_recon_statement_parsers",
    "finplug_recon_statement_sources",
    "reconciliation_hooks",
]


@runtime_checkable
class StatementFile(Protocol):
    """One file a source fetched: its name and its bytes."""

    @property
    def name(self) -> str:
        """The file's name (shown in errors and on the statements read from it)."""
        ...

    @property
    def data(self) -> bytes:
        """The file's content."""
        ...


@runtime_checkable
class StatementSource(Protocol):
    """Where a tenant's statement files come from (a folder, a bank's API, a channel)."""

    @property
    def name(self) -> str:
        """The source's name, unique in the tenant (``finplug recon import --source``)."""
        ...

    def fetch(self, day: date) -> Sequence[StatementFile]:
        """The files for ``day`` (none yet: an empty sequence)."""
        ...


@hookspec
@failure_policy(HookFailurePolicy.PROPAGATE)
def finplug_recon_statement_parsers() -> list[StatementParser] | None:
    """Add statement formats: parsers the reconciliation component may read files with.

    Each parser has a unique ``name`` (``"bai2"``, ``"csv:acme-bank"``),
    ``sniff(data, filename)`` (whether the file is its format) and
    ``parse(data, filename)`` (the file's statements; a broken file is a
    located :class:`~finplug.sockets.reconciliation.StatementFormatError`).
    The built-in camt.05x, MT940/MT942 and the tenant's CSV mappings come
    first; a file is read by the first parser that sniffs it, or by the one
    an import names.

    Combination: collect all; the caller flattens the lists. A name offered
    twice (or clashing with a built-in) is an error when the component is
    first used.
    Nobody implements it: only the built-in formats exist.

    Failure policy: propagate. The import that first needed the parsers
    fails with :class:`~finplug.HookCallError` before anything is written.

    Example::

        @hookimpl
        def finplug_recon_statement_parsers(self):
            return [Bai2Parser()]
    """


@hookspec
@failure_policy(HookFailurePolicy.PROPAGATE)
def finplug_recon_statement_sources() -> list[StatementSource] | None:
    """Add statement sources: where the component fetches a day's files from.

    Combination: collect all; the caller flattens the lists. A name offered
    twice is an error when a fetch first needs the sources.
    Nobody implements it: ``fetch`` knows no source; files are imported
    one by one (``import_statement``, ``finplug recon import``).

    Failure policy: propagate. The fetch fails with
    :class:`~finplug.HookCallError`; files imported before stay imported
    (each file is imported whole or not at all).

    Example::

        @hookimpl
        def finplug_recon_statement_sources(self):
            return [SftpFolder("bank-a", self.settings.host, self.settings.folder)]
    """


class _ParsersCaller(Protocol):
    def __call__(self) -> list[list[StatementParser]]: ...


class _SourcesCaller(Protocol):
    def __call__(self) -> list[list[StatementSource]]: ...


class ReconciliationHooks(Protocol):
    """The callers of the reconciliation plugin's hooks (``reconciliation_hooks.of(hooks)``)."""

    finplug_recon_statement_parsers: _ParsersCaller
    """Calls every plugin's ``finplug_recon_statement_parsers``."""
    finplug_recon_statement_sources: _SourcesCaller
    """Calls every plugin's ``finplug_recon_statement_sources``."""


#: The typed view of the reconciliation hooks on a tenant's relay.
reconciliation_hooks: HookView[ReconciliationHooks] = HookView(__name__)
