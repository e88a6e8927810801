"""Tenant configs: what an integrator writes, loaded from YAML, TOML or a dict.

A tenant config names the tenant and the plugins it enables, each with its
settings::

    tenant: acme
    name: Acme Wealth
    plugins:
      risk-rules:
        decline_above: {EUR: "10000.00"}
      fee-schedule: {}

Loading checks the shape here; :meth:`finplug.Platform.add_tenant` then
validates every plugin's settings with that plugin's own model and checks
requirements and ordering. Every problem becomes a
:class:`~finplug.ConfigIssue` naming file, line and field path; all are
reported together in one :class:`~finplug.ConfigError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from finplug._errors import ConfigError, ConfigIssue
from finplug._sources import SourceDocument, from_mapping, load_document, resolve_references
from finplug._storage import DatabaseSettings

__all__ = ["CONFIG_SUFFIXES", "TenantConfig", "collect_config_files", "pydantic_issues"]

#: File suffixes recognised as tenant configs when a folder is given.
CONFIG_SUFFIXES = (".yaml", ".yml", ".toml")

_TENANT_ID = r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$"


class TenantConfig(BaseModel):
    """The config of one client company (tenant).

    Plugin settings are kept raw here (``dict`` per plugin); the platform
    validates them against each plugin's settings model. A config remembers
    the document it came from, so later errors can still name file and line.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: str = Field(
        pattern=_TENANT_ID,
        max_length=61,
        description="Tenant id: lower-case letters, digits, '-' or '_'; starts with a letter.",
    )
    name: str | None = Field(default=None, description="Display name of the client company.")
    plugins: dict[str, dict[str, Any] | None] = Field(
        default_factory=dict,
        description="Enabled plugins by name, each with its settings (empty or null: defaults).",
    )
    database: DatabaseSettings = Field(
        default_factory=DatabaseSettings,
        description="Where this tenant's data lives (default: the platform's database).",
    )

    _document: SourceDocument | None = PrivateAttr(default=None)

    @property
    def document(self) -> SourceDocument | None:
        """The parsed document this config came from (``None`` if built directly)."""
        return self._document

    @property
    def source(self) -> str | None:
        """The file this config came from, if any."""
        return self._document.source if self._document is not None else None

    @property
    def display_name(self) -> str:
        """``name`` if given, else the tenant id."""
        return self.name or self.tenant

    def issue(self, loc: Sequence[str | int], message: str) -> ConfigIssue:
        """A :class:`ConfigIssue` located at ``loc`` in this config's document."""
        doc = self._document or from_mapping({})
        return doc.issue(loc, message)

    @classmethod
    def from_document(
        cls, document: SourceDocument, *, environ: Mapping[str, str] | None = None
    ) -> TenantConfig:
        """Validate a parsed document, resolving ``${VAR}`` and ``${file:…}`` first."""
        resolved = resolve_references(document, environ=environ)
        try:
            config = cls.model_validate(resolved.data)
        except ValidationError as exc:
            raise ConfigError(pydantic_issues(exc, resolved)) from None
        config._document = resolved
        return config

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
    ) -> TenantConfig:
        """Load a ``.yaml``, ``.yml`` or ``.toml`` tenant config file."""
        return cls.from_document(load_document(path), environ=environ)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        source: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> TenantConfig:
        """Build from a mapping (a config assembled in code or read from a database)."""
        return cls.from_document(from_mapping(data, source=source), environ=environ)

    def __repr_args__(self) -> list[tuple[str | None, Any]]:
        # Plugin settings may hold secrets before validation: show only names.
        return [("tenant", self.tenant), ("name", self.name), ("plugins", sorted(self.plugins))]


def pydantic_issues(
    exc: ValidationError, document: SourceDocument, prefix: Sequence[str | int] = ()
) -> list[ConfigIssue]:
    """Turn a pydantic error into located issues, never echoing input values."""
    issues = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = (*prefix, *err["loc"])
        message = err["msg"]
        if loc and loc[-1] == "[key]":
            # pydantic marks a bad mapping key with a pseudo-field; name the key instead.
            loc = loc[:-1]
            message = f"invalid key: {message}"
        if err["type"] == "extra_forbidden":
            message = "unknown field; check its spelling against the documented settings"
        elif err["type"] == "missing":
            message = "required field is missing"
        issues.append(document.issue(loc, message))
    return issues


def collect_config_files(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Expand folders into their config files (sorted); keep files as given.

    A path that does not exist raises :class:`ConfigError`.
    """
    files: list[Path] = []
    missing: list[ConfigIssue] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                sorted(p for p in path.iterdir() if p.suffix in CONFIG_SUFFIXES and p.is_file())
            )
        elif path.is_file():
            files.append(path)
        else:
            missing.append(ConfigIssue(str(path), None, "", "no such file or directory"))
    if missing:
        raise ConfigError(missing)
    return files
