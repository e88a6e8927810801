"""Reading one tenant-config document: YAML or TOML text to plain data plus line numbers.

A :class:`SourceDocument` holds the parsed top-level mapping together with the
1-based line of every key and list item, so that later validation can report
``acme.yaml:14: plugins.payments.channels[1].fee_rate: ...`` instead of a bare
message. :func:`resolve_references` then replaces ``${NAME}`` and
``${file:PATH}`` secret references with their values, each wrapped in a
:class:`ResolvedSecret` so that later stages can tell a value that came from a
reference from one written in the file; :meth:`SourceDocument.redacted` masks
them again for display.

Reading is bounded by :class:`ConfigLimits`: the size of a config file and of
a secret file, the nesting depth, and the parts of a TOML dotted key. Each is
checked before the work it protects (a file is never read past its cap, and a
long dotted key is refused before the TOML parser's quadratic work).

Whatever the input, the functions here raise :class:`~finplug._errors.ConfigError`
for bad content and nothing else, and no error message ever contains the value
of an environment variable or of a secret file.

The names above are imported from this package; its modules have one job each:

* :mod:`~finplug._sources.limits`: :class:`ConfigLimits` and the messages of a breached limit;
* :mod:`~finplug._sources.paths`: field paths (:data:`Loc`) and how messages show them;
* :mod:`~finplug._sources.masking`: :class:`ResolvedSecret`, :func:`redact`, :func:`mask_secrets`;
* :mod:`~finplug._sources.document`: :class:`SourceDocument`, and :func:`from_mapping`
  for a config built in code;
* :mod:`~finplug._sources.files`: reading a regular file, never past its cap;
* :mod:`~finplug._sources.reader`: :func:`parse_document` and :func:`load_document`,
  text or a file to a document in the format its suffix names;
* :mod:`~finplug._sources.yaml_reader`: YAML to plain data and lines, without anchors
  or custom tags;
* :mod:`~finplug._sources.toml_reader`: TOML to plain data and lines, long dotted keys
  refused before parsing;
* :mod:`~finplug._sources.toml_locator`: the line of each key in TOML text (the TOML
  parser gives none);
* :mod:`~finplug._sources.references`: :func:`resolve_references`, ``${NAME}`` and
  ``${file:PATH}`` to their values.
"""

from __future__ import annotations

from finplug._sources.document import SourceDocument, from_mapping
from finplug._sources.limits import DEFAULT_LIMITS, ConfigLimits
from finplug._sources.masking import MASK, ResolvedSecret, mask_secrets, redact
from finplug._sources.paths import Loc, format_loc, parse_loc
from finplug._sources.reader import load_document, parse_document
from finplug._sources.references import resolve_references

__all__ = [
    "DEFAULT_LIMITS",
    "MASK",
    "ConfigLimits",
    "Loc",
    "ResolvedSecret",
    "SourceDocument",
    "format_loc",
    "from_mapping",
    "load_document",
    "mask_secrets",
    "parse_document",
    "parse_loc",
    "redact",
    "resolve_references",
]
