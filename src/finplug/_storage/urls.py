"""Where a tenant's data may live: database URLs, schema names, and what is refused.

Names the places (the default URL, a tenant's default schema, the files a
``{tenant}`` SQLite URL gives tenants), refuses the ones that would break
isolation (:class:`StorageError`: a shared or reserved schema, another
tenant's prefix, ``..`` in a path), masks passwords for messages, and says
where a tenant's data lives without credentials (:class:`Location`), which is
what no two tenants may share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from finplug._errors import FinplugError

__all__ = [
    "DEFAULT_DATABASE_URL",
    "RESERVED_SCHEMAS",
    "TENANT_SCHEMA_PREFIX",
    "UNSAFE_IN_NAMES",
    "DatabaseSettings",
    "Location",
    "StorageError",
    "default_schema",
    "pg_place",
    "redact_url",
    "resolved_sqlite",
    "schema_refusal",
    "secret_free",
    "sqlite_file",
    "sqlite_pattern",
    "sqlite_url_refusal",
]

#: The embedded default: one SQLite file per tenant under ``./finplug-data``.
DEFAULT_DATABASE_URL = "sqlite:///finplug-data/{tenant}.db"

#: Schemas every user of a PostgreSQL database shares; no tenant may live in one.
#: Names starting with ``pg_`` (``pg_catalog``, ``pg_toast``, ``pg_temp_1`` …) are
#: PostgreSQL's own and refused as well.
RESERVED_SCHEMAS: Final = frozenset({"public", "information_schema"})

#: The prefix of tenants' default schemas (``t_<tenant id>``). A schema named
#: explicitly may not start with it unless it is the tenant's own default: any
#: other such name could be another tenant's, now or later.
TENANT_SCHEMA_PREFIX: Final = "t_"

#: What a tenant id may hold that a PostgreSQL name finplug derives may not (becomes ``_``).
UNSAFE_IN_NAMES: Final = re.compile(r"[^a-z0-9_]")


class StorageError(FinplugError, ValueError):
    """A tenant's storage cannot be used as configured, or an operation on it was refused.

    Raised for a database URL or schema that would break isolation (a
    reserved schema, ``..`` in a path, a schema another role owns), and when
    :meth:`TenantStorage.drop` refuses to drop what is not the tenant's.
    Messages never repeat a password.
    """


def default_schema(tenant_id: str) -> str:
    """A tenant's default PostgreSQL schema: ``t_`` and its id, ``-`` becoming ``_``."""
    return TENANT_SCHEMA_PREFIX + UNSAFE_IN_NAMES.sub("_", tenant_id.lower())


def schema_refusal(schema: str, tenant_id: str | None = None) -> str | None:
    """Why ``schema`` may not hold a tenant's data, or ``None`` when it may.

    Refused: the shared schemas (``public``, ``information_schema``),
    PostgreSQL's own (``pg_*``) and, when ``tenant_id`` is given, a ``t_``
    name other than that tenant's default (it could be another tenant's).
    """
    if schema in RESERVED_SCHEMAS:
        return (
            f"schema {schema!r} is shared by every user of the database; a tenant needs a"
            " schema of its own (leave it out to get t_<tenant id>)"
        )
    if schema.startswith("pg_"):
        return f"schema {schema!r} is reserved: names starting with 'pg_' are PostgreSQL's own"
    if (
        tenant_id is not None
        and schema.startswith(TENANT_SCHEMA_PREFIX)
        and schema != default_schema(tenant_id)
    ):
        return (
            f"schema {schema!r} starts with {TENANT_SCHEMA_PREFIX!r}, the prefix of tenants'"
            f" default schemas (t_<tenant id>), so it could be another tenant's; choose a"
            f" name without it (tenant {tenant_id!r}'s own default is"
            f" {default_schema(tenant_id)!r})"
        )
    return None


def _dotdot(path: str) -> bool:
    return ".." in re.split(r"[/\\]", path)


def sqlite_url_refusal(url: URL) -> str | None:
    """Why an SQLite URL cannot name one tenant's file (``..``, URI filenames), or ``None``."""
    if _dotdot(url.database or ""):
        return "'..' is not allowed in an SQLite database path; write the path without it"
    if str(url.query.get("uri", "")).lower() in ("1", "true", "yes", "on"):
        return "SQLite URI filenames (?uri=true) are not supported; name the file by its path"
    return None


class DatabaseSettings(BaseModel):
    """The optional ``database`` section of a tenant config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: SecretStr | None = Field(
        default=None,
        description="This tenant's own database URL (may hold a password: kept secret).",
    )
    schema_name: str | None = Field(
        default=None,
        alias="schema",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description=(
            "PostgreSQL schema for this tenant (default: t_<tenant id>). Not public,"
            " information_schema or pg_*, and not starting with t_ unless it is the"
            " tenant's own default."
        ),
    )

    @field_validator("url")
    @classmethod
    def _parseable(cls, url: SecretStr | None) -> SecretStr | None:
        """Refuse what SQLAlchemy cannot parse now, not when the tenant first connects."""
        if url is not None:
            try:
                parsed = make_url(url.get_secret_value())
            except ArgumentError:
                # The value may hold a password: the message never repeats it.
                raise ValueError(
                    "expected a database URL such as sqlite:///data/acme.db or"
                    " postgresql+psycopg://user@host/db"
                ) from None
            if parsed.get_backend_name() == "sqlite":
                refusal = sqlite_url_refusal(parsed)
                if refusal is not None:
                    raise ValueError(refusal)
        return url

    @field_validator("schema_name")
    @classmethod
    def _not_reserved(cls, schema: str | None) -> str | None:
        """Refuse the schemas every user of the database shares, and PostgreSQL's own."""
        if schema is not None:
            refusal = schema_refusal(schema)
            if refusal is not None:
                raise ValueError(refusal)
        return schema


def redact_url(url: str | URL) -> str:
    """The URL with any password masked, safe for logs and errors."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "<unparseable database URL>"
    # A platform URL's placeholder shows as written, not percent-encoded.
    return parsed.render_as_string(hide_password=True).replace("%7Btenant%7D", "{tenant}")


def secret_free(message: str, url: URL) -> str:
    """``message`` with the URL's password (if any) cut out, on one line."""
    if url.password:
        message = message.replace(str(url.password), "***")
    lines = message.strip().splitlines()
    return lines[0] if lines else ""


def sqlite_file(url: URL) -> str | None:
    """The file an SQLite URL names, or ``None`` for an in-memory database."""
    database = url.database
    if not database or database == ":memory:":
        return None
    return database


def resolved_sqlite(url: URL) -> URL:
    """``url`` with its file made absolute, normalised and its symbolic links resolved."""
    refusal = sqlite_url_refusal(url)
    if refusal is not None:
        raise StorageError(f"{redact_url(url)}: {refusal}")
    database = sqlite_file(url)
    if database is None:
        return url
    return url.set(database=str(Path(database).resolve()))


def sqlite_pattern(url: str) -> re.Pattern[str] | None:
    """The resolved files a ``{tenant}`` SQLite URL gives tenants, as a regex (group ``t``).

    ``None`` when ``url`` is not such a URL. Used to refuse a tenant's own
    SQLite URL that names the file the platform keeps for another tenant.
    """
    parsed = make_url(url.replace("{tenant}", "\0"))
    database = sqlite_file(parsed)
    if parsed.get_backend_name() != "sqlite" or database is None or "\0" not in database:
        return None
    parts = Path(database).parts
    first = next(i for i, part in enumerate(parts) if "\0" in part)
    base = str(Path(*parts[:first]).resolve()) if first else str(Path().resolve())
    pieces: list[str] = []
    named = False
    for part in parts[first:]:
        chunks = part.split("\0")
        out = re.escape(chunks[0])
        for chunk in chunks[1:]:
            out += "(?P=t)" if named else "(?P<t>[a-z][a-z0-9_-]*)"
            named = True
            out += re.escape(chunk)
        pieces.append(out)
    return re.compile(re.escape(base.rstrip("/")) + "/" + "/".join(pieces))


@dataclass(frozen=True, slots=True)
class Location:
    """Where a tenant's data lives, with no credentials: what no two tenants may share.

    ``place`` is, for SQLite, the resolved file (``:memory:`` for an
    in-memory database); for PostgreSQL, ``host:port/database`` as the URL
    spells it (lower-cased host, default port filled in). Two PostgreSQL
    locations with the same schema and different spellings may still be one
    database: the platform then asks both servers (:func:`server_identity`).
    """

    backend: str
    place: str
    schema: str | None = None

    def __str__(self) -> str:
        return self.place + (f", schema {self.schema}" if self.schema else "")


def pg_place(url: URL) -> str:
    """A PostgreSQL URL's ``host:port/database`` as :attr:`Location.place` spells it."""
    host = url.host or str(url.query.get("host", "")) or "<local socket>"
    return f"{host.lower()}:{url.port or 5432}/{url.database or url.username or ''}"
