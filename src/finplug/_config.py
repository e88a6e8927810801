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

Values resolved from ``${VAR}`` and ``${file:PATH}`` references are secrets:
:attr:`TenantConfig.plugins`, dumps and :attr:`TenantConfig.document` show
them as ``**********``, every issue located through the config masks them,
and only :meth:`TenantConfig.resolved_plugins` returns them, for the platform
to validate plugin settings with.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from finplug._errors import ConfigError, ConfigIssue
from finplug._sources import (
    MASK,
    ConfigLimits,
    Loc,
    SourceDocument,
    from_mapping,
    load_document,
    redact,
    resolve_references,
)
from finplug._storage import DatabaseSettings, redact_url
from finplug._text import did_you_mean

__all__ = [
    "CONFIG_SUFFIXES",
    "TENANT_ID_MAX_LENGTH",
    "TenantConfig",
    "collect_config_files",
    "pydantic_issues",
]

#: File suffixes recognised as tenant configs when a folder is given.
CONFIG_SUFFIXES = (".yaml", ".yml", ".toml")

_TENANT_ID = r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$"

#: The longest tenant id: PostgreSQL names a tenant's schema ``t_<id>``, and
#: identifiers there are at most 63 bytes.
TENANT_ID_MAX_LENGTH = 61

#: Fields shown by design (logs, errors, schema names): a reference there is not a secret.
_PUBLIC_FIELDS: tuple[Loc, ...] = (("tenant",), ("name",))


class TenantConfig(BaseModel):
    """The config of one client company (tenant).

    Plugin settings are kept raw here (``dict`` per plugin); the platform
    validates them against each plugin's settings model. A config remembers
    the document it came from, so later errors can still name file and line.

    Secrets stay hidden: in :attr:`plugins`, :meth:`model_dump`,
    :meth:`model_dump_json` and :attr:`document`, every value that came from a
    ``${VAR}`` or ``${file:PATH}`` reference is ``**********`` (``tenant`` and
    ``name`` are identity, not secrets, and are shown as resolved). The real
    values are reachable only through :meth:`resolved_plugins`; ``database.url``
    is a :class:`~pydantic.SecretStr`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: str = Field(
        pattern=_TENANT_ID,
        max_length=TENANT_ID_MAX_LENGTH,
        description="Tenant id: lower-case letters, digits, '-' or '_'; starts with a letter;"
        f" at most {TENANT_ID_MAX_LENGTH} characters.",
    )
    name: str | None = Field(default=None, description="Display name of the client company.")
    plugins: dict[str, dict[str, Any] | None] = Field(
        default_factory=dict,
        description="Enabled plugins by name, each with its settings (empty or null: defaults);"
        " values resolved from secret references show as '**********'.",
    )
    database: DatabaseSettings = Field(
        default_factory=DatabaseSettings,
        description="Where this tenant's data lives (default: the platform's database).",
    )

    _document: SourceDocument | None = PrivateAttr(default=None)
    _resolved_plugins: dict[str, dict[str, Any] | None] | None = PrivateAttr(default=None)

    @property
    def document(self) -> SourceDocument | None:
        """The document this config came from (``None`` if built directly), safe to show.

        Secrets resolved from references show as ``**********`` in its
        ``data``, as does a password written into ``database.url``; its line
        numbers are the file's.
        """
        return self._document

    def resolved_plugins(self) -> dict[str, dict[str, Any] | None]:
        """Every listed plugin's settings with secret references resolved: the real values.

        The one way to the values of ``${VAR}`` and ``${file:PATH}``
        references in plugin settings; the platform validates each plugin's
        settings model from it. Resolved values are
        :class:`~finplug._sources.ResolvedSecret` strings, which a
        :data:`finplug.types.Credential` field requires. Returns a fresh deep
        copy; never log, dump or store it.
        """
        source = self.plugins if self._resolved_plugins is None else self._resolved_plugins
        return copy.deepcopy(source)

    @property
    def source(self) -> str | None:
        """The file this config came from, if any."""
        return self._document.source if self._document is not None else None

    @property
    def display_name(self) -> str:
        """``name`` if given, else the tenant id."""
        return self.name or self.tenant

    def issue(self, loc: Sequence[str | int], message: str) -> ConfigIssue:
        """A :class:`ConfigIssue` located at ``loc`` in this config's document.

        Every value resolved from a secret reference is masked in ``message``
        (plugins report issues through here, and may quote a value they hold).
        """
        doc = self._document or from_mapping({})
        return doc.issue(loc, message)

    @classmethod
    def from_document(
        cls,
        document: SourceDocument,
        *,
        environ: Mapping[str, str] | None = None,
        limits: ConfigLimits | None = None,
    ) -> TenantConfig:
        """Validate a parsed document, resolving ``${VAR}`` and ``${file:…}`` first.

        ``limits`` bounds the secret files read (see :class:`ConfigLimits`).
        """
        resolved = resolve_references(
            document, environ=environ, limits=limits, public=_PUBLIC_FIELDS
        )
        try:
            validated = cls.model_validate(resolved.data)
        except ValidationError as exc:
            raise ConfigError(pydantic_issues(exc, resolved, model=cls)) from None
        config = validated.model_copy(update={"plugins": redact(validated.plugins)})
        config._resolved_plugins = validated.plugins
        config._document = _shown(resolved)
        return config

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        environ: Mapping[str, str] | None = None,
        limits: ConfigLimits | None = None,
    ) -> TenantConfig:
        """Load a ``.yaml``, ``.yml`` or ``.toml`` tenant config file.

        ``limits`` (default: :data:`~finplug._sources.DEFAULT_LIMITS`) caps the
        file's size, its nesting, TOML dotted keys and secret files.
        """
        return cls.from_document(load_document(path, limits=limits), environ=environ, limits=limits)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        source: str | None = None,
        environ: Mapping[str, str] | None = None,
        limits: ConfigLimits | None = None,
    ) -> TenantConfig:
        """Build from a mapping (a config assembled in code or read from a database)."""
        document = from_mapping(data, source=source, limits=limits)
        return cls.from_document(document, environ=environ, limits=limits)

    def __repr_args__(self) -> list[tuple[str | None, Any]]:
        # Plugin settings may hold secrets before validation: show only names.
        return [("tenant", self.tenant), ("name", self.name), ("plugins", sorted(self.plugins))]


def _shown(resolved: SourceDocument) -> SourceDocument:
    """``resolved`` with its secrets masked, and any password in ``database.url`` too."""
    shown = resolved.redacted()
    database = shown.data.get("database")
    if isinstance(database, dict):
        url = database.get("url")
        if isinstance(url, str) and url != MASK:
            database["url"] = redact_url(url)
    return shown


def pydantic_issues(
    exc: ValidationError,
    document: SourceDocument,
    prefix: Sequence[str | int] = (),
    *,
    model: type[BaseModel] | None = None,
) -> list[ConfigIssue]:
    """Turn a pydantic error into located issues, never echoing input values.

    Messages are built without the input, and ``document`` masks any
    resolved secret a validator's own message may still quote. ``model`` is
    the model that was validated: an unknown key then gets a "did you mean"
    naming the closest field of the (nested) model it was found in.
    """
    issues = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = (*prefix, *err["loc"])
        message = err["msg"]
        if loc and loc[-1] == "[key]":
            # pydantic marks a bad mapping key with a pseudo-field; name the key instead.
            loc = loc[:-1]
            message = f"invalid key: {message}"
        if err["type"] == "extra_forbidden":
            key = err["loc"][-1] if err["loc"] else None
            fields = _fields_at(model, err["loc"][:-1]) if model is not None else ()
            hint = did_you_mean(key, fields) if isinstance(key, str) else ""
            if hint:
                message = f"unknown field{hint}"
            else:
                message = "unknown field; check its spelling against the documented settings"
        elif err["type"] == "missing":
            message = "required field is missing"
        issues.append(document.issue(loc, message))
    return issues


def _fields_at(model: type[BaseModel], loc: Sequence[str | int]) -> tuple[str, ...]:
    """The field names (and aliases) of the model found at ``loc`` inside ``model``.

    Follows fields, list items, mapping values and optional or union members
    (pydantic names a union member in the location by its class name); ``()``
    when the location does not lead to a model.
    """
    current: Any = model
    for part in loc:
        candidates = _unwrap(current)
        nxt: Any = None
        for candidate in candidates:
            if isinstance(part, str) and _is_model(candidate):
                info = candidate.model_fields.get(part) or next(
                    (f for f in candidate.model_fields.values() if f.alias == part), None
                )
                if info is not None:
                    nxt = info.annotation
                    break
            if isinstance(part, str) and getattr(candidate, "__name__", None) == part:
                nxt = candidate  # a union member named in the location
                break
            origin = get_origin(candidate)
            args = get_args(candidate)
            if isinstance(part, int) and origin in (list, tuple, set, frozenset) and args:
                nxt = args[0]
                break
            if isinstance(part, str) and origin is dict and len(args) == 2:
                nxt = args[1]
                break
        if nxt is None:
            return ()
        current = nxt
    names: list[str] = []
    for candidate in _unwrap(current):
        if _is_model(candidate):
            for name, info in candidate.model_fields.items():
                names.append(name)
                if info.alias:
                    names.append(info.alias)
    return tuple(names)


def _is_model(candidate: Any) -> bool:
    return isinstance(candidate, type) and issubclass(candidate, BaseModel)


def _unwrap(annotation: Any) -> tuple[Any, ...]:
    """The members of an optional or union annotation; the annotation itself otherwise."""
    origin = get_origin(annotation)
    if origin is Union or origin is UnionType:
        return tuple(a for a in get_args(annotation) if a is not type(None))
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    return (annotation,)


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
