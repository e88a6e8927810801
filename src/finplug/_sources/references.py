"""Secret references in a tenant config: ``${NAME}`` and ``${file:PATH}`` to their values.

Each resolved value becomes a :class:`~finplug._sources.masking.ResolvedSecret`
and is masked in every message the document gives; no message names a value,
only the variable or the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from finplug._errors import ConfigError, ConfigIssue
from finplug._sources.document import SourceDocument
from finplug._sources.files import NotRegularFileError, TooLargeError, read_regular_file
from finplug._sources.limits import DEFAULT_LIMITS, ConfigLimits
from finplug._sources.masking import ResolvedSecret
from finplug._sources.paths import Loc

__all__ = ["resolve_references"]


_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_FILE_REFERENCE = re.compile(r"\$\{file:(.*)\}", re.DOTALL)
_ESCAPED_REFERENCE = re.compile(r"\$(\$\{.*\})", re.DOTALL)


def resolve_references(
    doc: SourceDocument,
    *,
    environ: Mapping[str, str] | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    limits: ConfigLimits | None = None,
    public: Collection[Loc] = (),
) -> SourceDocument:
    """Return a copy of ``doc`` with its secret references replaced by their values.

    A string value that is exactly ``${NAME}`` becomes ``environ[NAME]``
    (``environ`` defaults to :data:`os.environ`); exactly ``${file:PATH}``
    becomes the content of that file with one trailing newline removed
    (relative paths are taken against ``base_dir``, by default the directory
    of ``doc.source``, else the current directory). ``$${...}`` stands for the
    literal text ``${...}``. Other strings, and all keys, are left alone.

    A secret file must be a regular file (not a directory, device, pipe or
    socket) of at most ``limits.max_secret_bytes`` bytes; it is never read
    past that size.

    Each resolved value is a :class:`ResolvedSecret`, and the returned
    document masks all of them in :meth:`SourceDocument.issue` messages,
    except values at the field paths in ``public`` (identity fields such as
    the tenant id, which are shown by design): those are plain strings.

    Every reference that cannot be resolved is reported in one
    :class:`ConfigError`; the messages name the variable or file but never a
    value.
    """
    if base_dir is not None:
        base = Path(base_dir)
    elif doc.source is not None:
        base = Path(doc.source).parent
    else:
        base = Path.cwd()
    resolver = _Resolver(
        doc,
        os.environ if environ is None else environ,
        base,
        limits or DEFAULT_LIMITS,
        frozenset(public),
    )
    data = resolver.resolve(doc.data, ())
    if resolver.issues:
        raise ConfigError(resolver.issues)
    return SourceDocument(doc.source, data, doc.lines, doc._secrets.union(resolver.secrets))


class _Resolver:
    def __init__(
        self,
        doc: SourceDocument,
        environ: Mapping[str, str],
        base: Path,
        limits: ConfigLimits,
        public: frozenset[Loc],
    ) -> None:
        self.doc = doc
        self.environ = environ
        self.base = base
        self.limits = limits
        self.public = public
        self.issues: list[ConfigIssue] = []
        self.secrets: set[str] = set()

    def resolve(self, value: Any, loc: Loc) -> Any:
        if isinstance(value, str):
            return self._string(value, loc)
        if isinstance(value, dict):
            return {key: self.resolve(item, (*loc, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item, (*loc, index)) for index, item in enumerate(value)]
        return value

    def _string(self, value: str, loc: Loc) -> str:
        match = _ENV_REFERENCE.fullmatch(value)
        if match is not None:
            name = match[1]
            resolved = self.environ.get(name)
            if resolved is None:
                self.issues.append(self.doc.issue(loc, f"environment variable {name!r} is not set"))
                return value
            return self._resolved(resolved, loc)
        match = _FILE_REFERENCE.fullmatch(value)
        if match is not None:
            content = self._file(match[1], loc)
            return value if content is None else self._resolved(content, loc)
        match = _ESCAPED_REFERENCE.fullmatch(value)
        if match is not None:
            return match[1]
        return value

    def _resolved(self, value: str, loc: Loc) -> str:
        if loc in self.public:
            return str(value)
        self.secrets.add(value)
        return ResolvedSecret(value)

    def _file(self, raw: str, loc: Loc) -> str | None:
        if not raw:
            self.issues.append(self.doc.issue(loc, "file reference '${file:}' names no file"))
            return None
        path = Path(raw)
        if not path.is_absolute():
            path = self.base / path
        shown = repr(raw) if str(path) == raw else f"{raw!r} (looked for {str(path)!r})"
        limit = self.limits.max_secret_bytes
        problem: str | None = None
        try:
            content = read_regular_file(path, limit).decode("utf-8")
        except FileNotFoundError:
            problem = f"secret file {shown} does not exist"
        except NotRegularFileError as exc:
            problem = f"secret file {shown} is {exc.kind}; expected a regular file"
        except TooLargeError:
            problem = (
                f"secret file {shown} is too large: expected at most {limit:,} bytes"
                " (ConfigLimits.max_secret_bytes)"
            )
        except PermissionError:
            problem = f"secret file {shown} cannot be read: permission denied"
        except UnicodeDecodeError:
            problem = f"secret file {shown} is not valid UTF-8 text"
        except OSError as exc:
            problem = f"secret file {shown} cannot be read: {exc.strerror or type(exc).__name__}"
        except ValueError:
            problem = f"secret file path {raw!r} is not a valid path"
        if problem is not None:
            self.issues.append(self.doc.issue(loc, problem))
            return None
        if content.endswith("\r\n"):
            return content[:-2]
        if content.endswith("\n"):
            return content[:-1]
        return content
