"""Tests for finplug._sources: parsing tenant-config documents with line numbers."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finplug._errors import ConfigError, ConfigIssue
from finplug._sources import (
    Loc,
    SourceDocument,
    format_loc,
    from_mapping,
    load_document,
    parse_document,
    parse_loc,
    resolve_references,
)

# ------------------------------------------------------------------ fixtures

ACME_YAML = """\
# ACME's tenant config
tenant: acme
display_name: ACME Corp

plugins:
  payments:
    enabled: true
    api_key: ${PAY_KEY}
    channels:
      - name: card
        fee_rate: 0.029
        currencies: [EUR, USD]
      - name: sepa
        fee_rate: 0.001
        limits:
          - {currency: EUR, max: 10000}
          - currency: USD
            max: 5000
  ledger:
    settings:
      precision: 2
      opened: 2024-01-31
"""

ACME_TOML = '''\
# ACME's tenant config
tenant = "acme"
display_name = 'ACME Corp'

[plugins.payments]
enabled = true
api_key = "${PAY_KEY}"
description = """
[plugins.fake]
fee_rate = 1
"""
"weird.key" = 1
retry.max_attempts = 3

[[plugins.payments.channels]]
name = "card"
fee_rate = 0.029
currencies = [
  "EUR",  # the euro ] [x]
  "USD",
]

[[plugins.payments.channels]]
name = "sepa"
fee_rate = 0.001
limits = { currency = "EUR", max = 10000 }

[[plugins.payments.channels.tiers]]
above = 1000
fee_rate = 0.0005

[plugins.ledger]
opened = 2024-01-31T09:00:00Z
'literal key' = \'\'\'
x = 1
\'\'\'
settings.precision = 2
'''


def _only_issue(error: pytest.ExceptionInfo[ConfigError]) -> ConfigIssue:
    assert len(error.value.issues) == 1, error.value.issues
    return error.value.issues[0]


def _yaml_error(text: str) -> ConfigIssue:
    with pytest.raises(ConfigError) as error:
        parse_document(text, source="acme.yaml", fmt="yaml")
    return _only_issue(error)


def _toml_error(text: str) -> ConfigIssue:
    with pytest.raises(ConfigError) as error:
        parse_document(text, source="acme.toml", fmt="toml")
    return _only_issue(error)


# ------------------------------------------------------------------ format_loc


@pytest.mark.parametrize(
    ("loc", "expected"),
    [
        ((), ""),
        (("tenant",), "tenant"),
        (("plugins", "pay", "channels", 0, "fee"), "plugins.pay.channels[0].fee"),
        (("plugins", "pay", "channels", 0, 3), "plugins.pay.channels[0][3]"),
        ((0, "x"), "[0].x"),
        (("plugins", "my.plugin", "enabled"), 'plugins."my.plugin".enabled'),
        (("a", ""), 'a.""'),
    ],
)
def test_format_loc(loc: Loc, expected: str) -> None:
    assert format_loc(loc) == expected
    assert format_loc(list(loc)) == expected
    assert parse_loc(expected) == loc


@given(
    st.lists(st.one_of(st.integers(min_value=0, max_value=10**6), st.text(max_size=8)), max_size=6)
)
def test_parse_loc_inverts_format_loc(parts: list[str | int]) -> None:
    loc = tuple(parts)
    assert parse_loc(format_loc(loc)) == loc


@pytest.mark.parametrize("text", ["a..b", "[x]", "a b", "a[1", "a.[0]", '"open'])
def test_parse_loc_refuses_what_format_loc_never_writes(text: str) -> None:
    with pytest.raises(ValueError, match="not a field path"):
        parse_loc(text)


# ------------------------------------------------------------------ YAML lines


def test_yaml_data() -> None:
    doc = parse_document(ACME_YAML, source="acme.yaml", fmt="yaml")
    assert doc.source == "acme.yaml"
    assert doc.data["tenant"] == "acme"
    payments = doc.data["plugins"]["payments"]
    assert payments["enabled"] is True
    assert payments["api_key"] == "${PAY_KEY}"
    assert payments["channels"][0] == {
        "name": "card",
        "fee_rate": 0.029,
        "currencies": ["EUR", "USD"],
    }
    assert payments["channels"][1]["limits"][1] == {"currency": "USD", "max": 5000}
    assert doc.data["plugins"]["ledger"]["settings"]["opened"] == dt.date(2024, 1, 31)


@pytest.mark.parametrize(
    ("loc", "line"),
    [
        ((), 1),
        (("tenant",), 2),
        (("display_name",), 3),
        (("plugins",), 5),
        (("plugins", "payments"), 6),
        (("plugins", "payments", "api_key"), 8),
        (("plugins", "payments", "channels"), 9),
        (("plugins", "payments", "channels", 0), 10),
        (("plugins", "payments", "channels", 0, "name"), 10),
        (("plugins", "payments", "channels", 0, "fee_rate"), 11),
        (("plugins", "payments", "channels", 0, "currencies", 1), 12),
        (("plugins", "payments", "channels", 1), 13),
        (("plugins", "payments", "channels", 1, "fee_rate"), 14),
        (("plugins", "payments", "channels", 1, "limits", 0, "max"), 16),
        (("plugins", "payments", "channels", 1, "limits", 1), 17),
        (("plugins", "payments", "channels", 1, "limits", 1, "max"), 18),
        (("plugins", "ledger", "settings", "precision"), 21),
        # Not in the document: nearest ancestor.
        (("plugins", "payments", "channels", 1, "nope", 3), 13),
        (("plugins", "payments", "missing"), 6),
        (("nothing", "here"), 1),
    ],
)
def test_yaml_line_of(loc: Loc, line: int) -> None:
    doc = parse_document(ACME_YAML, source="acme.yaml", fmt="yaml")
    assert doc.line_of(loc) == line


def test_yaml_issue_renders_file_line_and_path() -> None:
    doc = parse_document(ACME_YAML, source="acme.yaml", fmt="yaml")
    issue = doc.issue(["plugins", "payments", "channels", 1, "fee_rate"], "must be at most 0.0001")
    assert issue == ConfigIssue(
        "acme.yaml", 14, "plugins.payments.channels[1].fee_rate", "must be at most 0.0001"
    )
    assert str(issue) == (
        "acme.yaml:14: plugins.payments.channels[1].fee_rate: must be at most 0.0001"
    )


def test_yaml_plain_equals_sign_is_a_string() -> None:
    doc = parse_document("tenant: acme\nop: =\n", source=None, fmt="yaml")
    assert doc.data == {"tenant": "acme", "op": "="}


def test_yaml_scalars_resolve_like_safe_loader() -> None:
    text = (
        "a: 1\nb: 0x1f\nc: 1.5\nd: .inf\ne: yes\nf: ~\ng: '1'\nh: 2001-12-14t21:59:43.10-05:00\n"
        "i: !!str 12\nj: !!float 3\nk: 2024-02-29\nl: \n"
    )
    doc = parse_document(text, source=None, fmt="yaml")
    assert doc.data == yaml.safe_load(text)


# ------------------------------------------------------------------ TOML lines


def test_toml_data() -> None:
    doc = parse_document(ACME_TOML, source="acme.toml", fmt="toml")
    payments = doc.data["plugins"]["payments"]
    assert payments["description"] == "[plugins.fake]\nfee_rate = 1\n"
    assert payments["weird.key"] == 1
    assert payments["retry"] == {"max_attempts": 3}
    assert payments["channels"][0]["currencies"] == ["EUR", "USD"]
    assert payments["channels"][1]["tiers"] == [{"above": 1000, "fee_rate": 0.0005}]
    ledger = doc.data["plugins"]["ledger"]
    assert ledger["opened"] == dt.datetime(2024, 1, 31, 9, tzinfo=dt.UTC)
    assert ledger["literal key"] == "x = 1\n"
    assert "fake" not in doc.data["plugins"]


@pytest.mark.parametrize(
    ("loc", "line"),
    [
        ((), 1),
        (("tenant",), 2),
        (("display_name",), 3),
        (("plugins",), 5),
        (("plugins", "payments"), 5),
        (("plugins", "payments", "enabled"), 6),
        (("plugins", "payments", "api_key"), 7),
        (("plugins", "payments", "description"), 8),
        (("plugins", "payments", "weird.key"), 12),
        (("plugins", "payments", "retry"), 13),
        (("plugins", "payments", "retry", "max_attempts"), 13),
        (("plugins", "payments", "channels"), 15),
        (("plugins", "payments", "channels", 0), 15),
        (("plugins", "payments", "channels", 0, "fee_rate"), 17),
        (("plugins", "payments", "channels", 0, "currencies"), 18),
        # Items of a multi-line array fall back to the key.
        (("plugins", "payments", "channels", 0, "currencies", 1), 18),
        (("plugins", "payments", "channels", 1), 23),
        (("plugins", "payments", "channels", 1, "name"), 24),
        (("plugins", "payments", "channels", 1, "fee_rate"), 25),
        # Inline tables fall back to the key.
        (("plugins", "payments", "channels", 1, "limits", "max"), 26),
        (("plugins", "payments", "channels", 1, "tiers"), 28),
        (("plugins", "payments", "channels", 1, "tiers", 0, "fee_rate"), 30),
        (("plugins", "ledger"), 32),
        (("plugins", "ledger", "opened"), 33),
        (("plugins", "ledger", "literal key"), 34),
        (("plugins", "ledger", "settings", "precision"), 37),
        (("plugins", "fake"), 5),
    ],
)
def test_toml_line_of(loc: Loc, line: int) -> None:
    doc = parse_document(ACME_TOML, source="acme.toml", fmt="toml")
    assert doc.line_of(loc) == line


def test_toml_issue_renders_file_line_and_path() -> None:
    doc = parse_document(ACME_TOML, source="acme.toml", fmt="toml")
    issue = doc.issue(("plugins", "payments", "channels", 1, "fee_rate"), "too high")
    assert str(issue) == "acme.toml:25: plugins.payments.channels[1].fee_rate: too high"


def test_toml_locator_escapes_and_nested_arrays_of_tables() -> None:
    text = (
        'tenant = "acme"\n'
        '"k\\u00e9y\\t" = 1\n'
        "[[a]]\n"
        "[[a.b]]\n"
        "x = 1\n"
        "[[a.b]]\n"
        "x = 2\n"
        "[[a]]\n"
        "[[a.b]]\n"
        "x = 3  # comment = 4\n"
        "[a.c]\n"
        "y = 'it\"s # [x]'\n"
        'z = """a\\"""b"""\n'
        "w = 5\n"
    )
    doc = parse_document(text, source=None, fmt="toml")
    assert doc.data["k\u00e9y\t"] == 1
    assert doc.data["a"][1]["b"][0]["x"] == 3
    assert doc.line_of(("k\u00e9y\t",)) == 2
    assert doc.line_of(("a", 0, "b", 1, "x")) == 7
    assert doc.line_of(("a", 1)) == 8
    assert doc.line_of(("a", 1, "b", 0, "x")) == 10
    assert doc.line_of(("a", 1, "c")) == 11
    assert doc.line_of(("a", 1, "c", "w")) == 14


# ------------------------------------------------------------------ YAML rejections


@pytest.mark.parametrize(
    ("text", "line", "path", "fragment"),
    [
        (
            "tenant: acme\nplugins:\n  pay:\n    a: 1\n    a: 2\n",
            5,
            "plugins.pay",
            "duplicate key 'a' (first defined on line 4)",
        ),
        ("tenant: acme\n1: x\n", 2, "", "mapping keys must be strings, found an integer key"),
        ("tenant: acme\nnull: x\n", 2, "", "found a null key"),
        ("tenant: acme\nplugins:\n  yes: 1\n", 3, "plugins", "found a boolean key 'yes'"),
        ("tenant: acme\n1.5: x\n", 2, "", "found a number key"),
        ("tenant: acme\n2024-01-01: x\n", 2, "", "found a date/time key"),
        ("tenant: acme\n[a]: b\n", 2, "", "found a list used as a key"),
        ("tenant: acme\n? {a: 1}\n: b\n", 2, "", "found a mapping used as a key"),
        ("tenant: acme\nplugins:\n  <<: {a: 1}\n", 3, "plugins", "merge keys ('<<')"),
        ("tenant: !custom acme\n", 1, "tenant", "YAML tag '!custom' is not supported"),
        ("a: !!python/object:os.system x\n", 1, "a", "'!!python/object:os.system'"),
        ("a: !!binary aGk=\n", 1, "a", "YAML tag '!!binary' is not supported"),
        ("a: !!set {x, y}\n", 1, "a", "YAML tag '!!set' is not supported"),
        ("a:\n  !!omap [{x: 1}]\n", 2, "a", "YAML tag '!!omap' is not supported"),
        ("tenant: acme\n!k a: 1\n", 2, "", "YAML tag '!k' is not supported"),
        ("!!set {a, b}\n", 1, "", "YAML tag '!!set' is not supported"),
    ],
)
def test_yaml_rejected_keys_and_tags(text: str, line: int, path: str, fragment: str) -> None:
    issue = _yaml_error(text)
    assert issue.source == "acme.yaml"
    assert issue.line == line
    assert issue.path == path
    assert fragment in issue.message


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("tenant: acme\nbase: &base {a: 1}\nother: *base\n", 2),
        ("tenant: acme\nplugins:\n  pay: *ref\n", 3),
        ("tenant: acme\nx: &a 1\n", 2),
        ("tenant: acme\nplugins:\n  - &item\n    a: 1\n", 3),
        ("tenant: acme\nplugins:\n  <<: *base\n", 3),
    ],
)
def test_yaml_anchors_and_aliases_rejected(text: str, line: int) -> None:
    issue = _yaml_error(text)
    assert issue.line == line
    assert issue.message == "YAML anchors and aliases are not supported in tenant configs"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("tenant: a\n---\ntenant: b\n", 2),
        ("---\ntenant: a\n...\n---\ntenant: b\n", 4),
        ("tenant: a\n---\n", 2),
    ],
)
def test_yaml_multiple_documents_rejected(text: str, line: int) -> None:
    issue = _yaml_error(text)
    assert issue.line == line
    assert "exactly one YAML document" in issue.message


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("- a\n- b\n", 1, "expected a mapping at the top level"),
        ("\n\njust text\n", 3, "expected a mapping at the top level"),
        ("null\n", 1, "expected a mapping at the top level"),
        ("", 1, "the file is empty; expected a mapping"),
        ("# nothing here\n\n", 1, "the file is empty; expected a mapping"),
        ("---\n", 1, "the file is empty; expected a mapping"),
    ],
)
def test_yaml_root_must_be_a_mapping(text: str, line: int, fragment: str) -> None:
    issue = _yaml_error(text)
    assert issue.line == line
    assert issue.path == ""
    assert fragment in issue.message


def test_yaml_empty_mapping_is_accepted() -> None:
    assert parse_document("{}\n", source=None, fmt="yaml").data == {}


def test_yaml_nesting_limit_flow() -> None:
    ok = parse_document("a: " + "[" * 63 + "]" * 63, source=None, fmt="yaml")
    assert ok.data["a"] is not None
    issue = _yaml_error("tenant: x\na: " + "[" * 64 + "]" * 64)
    assert issue.line == 2
    assert "deeper than 64 levels" in issue.message


def test_yaml_nesting_limit_block() -> None:
    text = "".join("  " * depth + f"k{depth}:\n" for depth in range(80))
    issue = _yaml_error(text)
    assert issue.line == 65
    assert "deeper than 64 levels" in issue.message


def test_yaml_huge_nesting_does_not_recurse() -> None:
    issue = _yaml_error("a: " + "[" * 100_000)
    assert issue.line == 1


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("tenant: acme\nplugins: [a, b\nother: 1\n", 3, "invalid YAML"),
        ("tenant: 'unterminated\n", 2, "invalid YAML: found unexpected end of stream"),
        ("tenant: acme\nplugins:\n\tpay: 1\n", 3, "invalid YAML"),
        ("tenant: acme\n  bad: indent\n", 2, "invalid YAML: mapping values are not allowed"),
        ("tenant: acme\nkey: \x00\n", 2, "unacceptable character #x0000"),
        ("x: 1\ny: \x07\n", 2, "unacceptable character #x0007"),
    ],
)
def test_yaml_syntax_errors(text: str, line: int, fragment: str) -> None:
    issue = _yaml_error(text)
    assert issue.line == line
    assert fragment in issue.message
    assert '"<unicode string>"' not in issue.message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("tenant: acme\nstarted: 2020-13-45\n", "invalid !!timestamp value: month must be"),
        ("tenant: acme\nstarted: !!timestamp nope\n", "invalid !!timestamp value"),
        ("tenant: acme\nstarted: !!int abc\n", "invalid !!int value"),
        ("tenant: acme\nstarted: !!float abc\n", "invalid !!float value"),
        ("tenant: acme\nstarted: !!bool maybe\n", "invalid !!bool value"),
        ("tenant: acme\nstarted: " + "1" * 5000 + "\n", "invalid !!int value"),
    ],
)
def test_yaml_bad_scalars(text: str, fragment: str) -> None:
    issue = _yaml_error(text)
    assert issue.line == 2
    assert issue.path == "started"
    assert fragment in issue.message


# ------------------------------------------------------------------ TOML rejections


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("tenant = 'acme'\nplugins = [\n", 2, "invalid TOML"),
        ("tenant = 'acme'\ntenant = 'other'\n", 2, "invalid TOML"),
        ("tenant = acme\n", 1, "invalid TOML: Invalid value (column 10)"),
        ("tenant = 'acme'\n[a]\nx = 1\n[a]\n", 4, "invalid TOML"),
        ("tenant = 'acme'\nx = ", 2, "(at end of document)"),
        ("", 1, "the file is empty; expected a mapping"),
        ("# just a comment\n", 1, "the file is empty; expected a mapping"),
    ],
)
def test_toml_errors(text: str, line: int, fragment: str) -> None:
    issue = _toml_error(text)
    assert issue.source == "acme.toml"
    assert issue.line == line
    assert fragment in issue.message
    assert "(at line" not in issue.message


def test_toml_nesting_limit() -> None:
    ok = parse_document("a = " + "[" * 63 + "]" * 63, source=None, fmt="toml")
    assert ok.data["a"]
    issue = _toml_error("tenant = 'x'\na = " + "[" * 64 + "]" * 64)
    assert issue.line == 2
    assert issue.path.startswith("a[0][0]")
    assert "deeper than 64 levels" in issue.message

    # Neither key is too long, but together they nest too deep.
    header = ".".join(f"k{depth}" for depth in range(60))
    issue = _toml_error(f"tenant = 'x'\n\n[{header}]\na.b.c.d.e.f = 1\n")
    assert issue.line == 4
    assert "deeper than 64 levels" in issue.message


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 5000,
        "a = " + "{b = " * 5000,
        "a = " + "[" * 5000 + "]" * 5000,
        "a = " + "1" * 5000,
    ],
)
def test_toml_pathological_input(text: str) -> None:
    issue = _toml_error(text)
    assert issue.source == "acme.toml"


# ------------------------------------------------------------------ load_document


def test_load_document_yaml_and_toml(tmp_path: Path) -> None:
    for name, text in [("acme.yaml", ACME_YAML), ("acme.yml", ACME_YAML), ("acme.toml", ACME_TOML)]:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        doc = load_document(path)
        assert doc.source == str(path)
        assert doc.data["tenant"] == "acme"
        assert doc.line_of(("plugins", "payments", "channels", 1, "fee_rate")) in (14, 25)
    assert load_document(str(tmp_path / "acme.toml")).source == str(tmp_path / "acme.toml")


def test_load_document_strips_bom(tmp_path: Path) -> None:
    path = tmp_path / "acme.toml"
    path.write_bytes("\ufefftenant = 'acme'\n".encode())
    assert load_document(path).data == {"tenant": "acme"}


def test_load_document_uppercase_suffix(tmp_path: Path) -> None:
    path = tmp_path / "ACME.YAML"
    path.write_text("tenant: acme\n", encoding="utf-8")
    assert load_document(path).data == {"tenant": "acme"}


def test_load_document_reports_the_file_on_parse_errors(tmp_path: Path) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text("tenant: acme\ntenant: again\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_document(path)
    assert str(error.value) == f"{path}:2: duplicate key 'tenant' (first defined on line 1)"


@pytest.mark.parametrize("name", ["acme.json", "acme", "acme.yaml.bak"])
def test_load_document_unknown_suffix(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("tenant: acme\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_document(path)
    issue = _only_issue(error)
    assert issue.source == str(path)
    assert "expected .yaml, .yml or .toml" in issue.message


def test_load_document_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError) as error:
        load_document(path)
    issue = _only_issue(error)
    assert issue.source == str(path)
    assert issue.line is None
    assert "cannot read the file" in issue.message
    assert str(path) in str(error.value)


def test_load_document_directory(tmp_path: Path) -> None:
    path = tmp_path / "dir.toml"
    path.mkdir()
    with pytest.raises(ConfigError) as error:
        load_document(path)
    assert "directory" in _only_issue(error).message


def test_load_document_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "acme.yaml"
    path.write_bytes(b"tenant: acme\nname: caf\xe9\n")
    with pytest.raises(ConfigError) as error:
        load_document(path)
    issue = _only_issue(error)
    assert issue.source == str(path)
    assert issue.line == 2
    assert "not valid UTF-8" in issue.message


# ------------------------------------------------------------------ from_mapping


def test_from_mapping() -> None:
    original: dict[str, Any] = {"tenant": "acme", "plugins": {"pay": {"channels": ({"a": 1},)}}}
    doc = from_mapping(original)
    assert doc.source is None
    assert dict(doc.lines) == {}
    assert doc.data == {"tenant": "acme", "plugins": {"pay": {"channels": [{"a": 1}]}}}
    assert doc.data is not original
    assert doc.line_of(("plugins", "pay")) is None
    issue = doc.issue(("plugins", "pay", "channels", 0, "a"), "bad")
    assert str(issue) == "plugins.pay.channels[0].a: bad"
    named = from_mapping(original, source="<code>")
    assert str(named.issue(("tenant",), "bad")) == "<code>: tenant: bad"


def test_from_mapping_rejects_non_string_keys() -> None:
    bad: dict[Any, Any] = {"tenant": "acme", "plugins": {1: "x", None: "y"}}
    with pytest.raises(ConfigError) as error:
        from_mapping(bad)
    assert len(error.value.issues) == 2
    assert all(issue.path == "plugins" for issue in error.value.issues)
    assert "mapping keys must be strings" in error.value.issues[0].message


def test_from_mapping_rejects_cycles() -> None:
    cyclic: dict[str, Any] = {"tenant": "acme"}
    cyclic["self"] = cyclic
    with pytest.raises(ConfigError, match="deeper than 64 levels"):
        from_mapping(cyclic)


def test_source_document_default_lines() -> None:
    doc = SourceDocument(source=None, data={"a": 1})
    assert doc.line_of(("a",)) is None


# ------------------------------------------------------------------ secret references

SECRET = "sk_live_Zq81mNdV0xS3cr3t"


def test_resolve_env_and_file_references(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "ledger.key").write_text(f"{SECRET}-file\n\n", encoding="utf-8")
    config = tmp_path / "acme.yaml"
    config.write_text(
        "tenant: acme\n"
        "plugins:\n"
        "  pay:\n"
        "    api_key: ${PAY_KEY}\n"
        "    escaped: $${PAY_KEY}\n"
        "    escaped_file: $${file:x}\n"
        "    inline: prefix-${PAY_KEY}\n"
        "    not_a_name: ${1PAY}\n"
        "    keys: ['${PAY_KEY}', plain, 3]\n"
        "  ledger:\n"
        "    key: ${file:secrets/ledger.key}\n",
        encoding="utf-8",
    )
    doc = load_document(config)
    resolved = resolve_references(doc, environ={"PAY_KEY": SECRET})
    pay = resolved.data["plugins"]["pay"]
    assert pay["api_key"] == SECRET
    assert pay["escaped"] == "${PAY_KEY}"
    assert pay["escaped_file"] == "${file:x}"
    assert pay["inline"] == "prefix-${PAY_KEY}"
    assert pay["not_a_name"] == "${1PAY}"
    assert pay["keys"] == [SECRET, "plain", 3]
    # Exactly one trailing newline is stripped.
    assert resolved.data["plugins"]["ledger"]["key"] == f"{SECRET}-file\n"
    assert resolved.source == doc.source
    assert resolved.lines == doc.lines
    # The original document is untouched.
    assert doc.data["plugins"]["pay"]["api_key"] == "${PAY_KEY}"


def test_resolve_file_reference_base_dir_and_absolute(tmp_path: Path) -> None:
    (tmp_path / "key.txt").write_text("one\r\n", encoding="utf-8")
    doc = from_mapping({"a": "${file:key.txt}", "b": f"${{file:{tmp_path / 'key.txt'}}}"})
    resolved = resolve_references(doc, environ={}, base_dir=tmp_path)
    assert resolved.data == {"a": "one", "b": "one"}


def test_resolve_file_reference_defaults_to_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "key.txt").write_text("cwd", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    resolved = resolve_references(from_mapping({"a": "${file:key.txt}"}), environ={})
    assert resolved.data == {"a": "cwd"}


def test_resolve_uses_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINPLUG_TEST_SECRET_REF", SECRET)
    doc = from_mapping({"a": {"b": "${FINPLUG_TEST_SECRET_REF}"}})
    assert resolve_references(doc).data == {"a": {"b": SECRET}}


def test_unresolvable_references_are_reported_together(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "latin1.key").write_bytes(b"caf\xe9")
    config = tmp_path / "acme.yaml"
    config.write_text(
        "tenant: acme\n"
        "plugins:\n"
        "  pay:\n"
        "    known: ${KNOWN}\n"
        "    channels:\n"
        "      - name: card\n"
        "        api_key: ${PAY_KEY}\n"
        "  ledger:\n"
        "    key: ${file:missing.key}\n"
        "    dir: ${file:dir}\n"
        "    latin: ${file:latin1.key}\n"
        "    empty: ${file:}\n",
        encoding="utf-8",
    )
    doc = load_document(config)
    with pytest.raises(ConfigError) as error:
        resolve_references(doc, environ={"KNOWN": SECRET, "OTHER": SECRET})
    rendered = [str(issue) for issue in error.value.issues]
    assert rendered[0] == (
        f"{config}:7: plugins.pay.channels[0].api_key: environment variable 'PAY_KEY' is not set"
    )
    missing = str(tmp_path / "missing.key")
    assert rendered[1] == (
        f"{config}:9: plugins.ledger.key: "
        f"secret file 'missing.key' (looked for {missing!r}) does not exist"
    )
    assert rendered[2].startswith(f"{config}:10: plugins.ledger.dir: secret file 'dir'")
    assert "is a directory" in rendered[2]
    assert rendered[3].endswith("is not valid UTF-8 text")
    assert (
        rendered[4]
        == f"{config}:12: plugins.ledger.empty: file reference '${{file:}}' names no file"
    )
    assert len(rendered) == 5
    assert SECRET not in str(error.value)
    assert SECRET not in repr(error.value)
    assert SECRET not in repr(error.value.issues)
    assert error.value.__cause__ is None
    assert error.value.__context__ is None


def test_unset_variable_error_never_shows_other_values() -> None:
    doc = parse_document(
        "tenant: acme\nplugins:\n  pay:\n    api_key: ${PAY_KEY}\n    other: ${SET}\n",
        source="acme.yaml",
        fmt="yaml",
    )
    with pytest.raises(ConfigError) as error:
        resolve_references(doc, environ={"SET": SECRET})
    assert (
        str(error.value)
        == "acme.yaml:4: plugins.pay.api_key: environment variable 'PAY_KEY' is not set"
    )
    assert SECRET not in str(error.value)
    assert SECRET not in repr(error.value)


def test_resolve_references_in_toml() -> None:
    doc = parse_document(ACME_TOML, source="acme.toml", fmt="toml")
    with pytest.raises(ConfigError) as error:
        resolve_references(doc, environ={})
    assert str(error.value) == (
        "acme.toml:7: plugins.payments.api_key: environment variable 'PAY_KEY' is not set"
    )
    resolved = resolve_references(doc, environ={"PAY_KEY": SECRET})
    assert resolved.data["plugins"]["payments"]["api_key"] == SECRET
    assert resolved.data["plugins"]["ledger"]["opened"] == doc.data["plugins"]["ledger"]["opened"]


# ------------------------------------------------------------------ fuzzing

FUZZ = settings(max_examples=150, deadline=None)
FILE_FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parses_or_config_error(text: str, fmt: Any) -> SourceDocument | None:
    try:
        doc = parse_document(text, source="fuzz", fmt=fmt)
    except ConfigError as error:
        assert error.issues
        for issue in error.issues:
            assert issue.source == "fuzz"
            assert issue.line is None or issue.line >= 1
        return None
    _check_document(doc, text)
    return doc


def _check_document(doc: SourceDocument, text: str) -> None:
    assert isinstance(doc.data, dict)
    assert doc.lines[()] == 1
    max_line = len(re.split("\r\n|[\r\n\x85\u2028\u2029]", text))
    for loc, line in doc.lines.items():
        assert 1 <= line <= max_line, (loc, line)
    _assert_str_keys(doc.data)


def _assert_str_keys(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str)
            _assert_str_keys(item)
    elif isinstance(value, list):
        for item in value:
            _assert_str_keys(item)


@FUZZ
@given(st.text())
def test_fuzz_random_text_yaml(text: str) -> None:
    _parses_or_config_error(text, "yaml")


@FUZZ
@given(st.text())
def test_fuzz_random_text_toml(text: str) -> None:
    _parses_or_config_error(text, "toml")


_YAML_ALPHABET = st.sampled_from(list("abc01:- \n\t[]{},'\"&*!?#|>%@`~.=<\\\x00\u2028"))


@FUZZ
@given(st.text(alphabet=_YAML_ALPHABET, max_size=60))
def test_fuzz_yaml_syntax_soup(text: str) -> None:
    _parses_or_config_error(text, "yaml")


_TOML_ALPHABET = st.sampled_from(list("ab01=.[]{},'\"# \n\t\\u-:TZ+e"))


@FUZZ
@given(st.text(alphabet=_TOML_ALPHABET, max_size=60))
def test_fuzz_toml_syntax_soup(text: str) -> None:
    _parses_or_config_error(text, "toml")


@FILE_FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".yaml", ".yml", ".toml"]))
def test_fuzz_random_bytes_in_files(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, suffix: str
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / f"tenant{suffix}"
    path.write_bytes(data)
    try:
        doc = load_document(path)
    except ConfigError as error:
        assert all(issue.source == str(path) for issue in error.issues)
    else:
        _check_document(doc, data.decode("utf-8").removeprefix("\ufeff"))


# Structured YAML: random nested data dumped with safe_dump (keys need not be strings).

_yaml_keys = st.one_of(
    st.text(max_size=8), st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False)
)
_yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.dates(),
    st.datetimes(timezones=st.just(dt.UTC)),
)
_yaml_trees = st.recursive(
    _yaml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(_yaml_keys, children, max_size=4)
    ),
    max_leaves=20,
)


@FUZZ
@given(st.one_of(_yaml_trees, st.dictionaries(_yaml_keys, _yaml_trees, max_size=5)))
def test_fuzz_structured_yaml(tree: Any) -> None:
    text = yaml.safe_dump(tree, default_flow_style=None)
    _parses_or_config_error(text, "yaml")


# Round trip: str keys and str/int/bool/list values survive safe_dump -> parse.

_plain_scalars = st.one_of(st.text(max_size=12), st.integers(), st.booleans())
_plain_trees: st.SearchStrategy[Any] = st.recursive(
    _plain_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)
_plain_documents = st.dictionaries(st.text(max_size=8), _plain_trees, max_size=6)


def _all_locs(value: Any, loc: Loc = ()) -> list[Loc]:
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    else:
        return []
    locs: list[Loc] = []
    for key, item in children:
        child: Loc = (*loc, key)
        locs.append(child)
        locs.extend(_all_locs(item, child))
    return locs


@FUZZ
@given(_plain_documents, st.sampled_from([None, False, True]))
def test_yaml_round_trip_has_every_line(data: dict[str, Any], flow: bool | None) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, sort_keys=False)
    doc = parse_document(text, source="rt.yaml", fmt="yaml")
    assert doc.data == data
    _check_document(doc, text)
    for loc in _all_locs(data):
        assert loc in doc.lines, loc


# Structured TOML: our own emitter, which also says where each key must be found.

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _toml_string(text: str) -> str:
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if _BARE.fullmatch(key) else _toml_string(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    items = ", ".join(f"{_toml_key(key)} = {_toml_value(item)}" for key, item in value.items())
    return "{" + items + "}"


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _emit_toml(
    table: Mapping[str, Any], loc: Loc, keys: list[str], out: list[str], where: dict[Loc, int]
) -> None:
    for key, value in table.items():
        if not isinstance(value, dict) and not _is_table_array(value):
            where[(*loc, key)] = len(out) + 1
            out.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in table.items():
        header = ".".join(_toml_key(part) for part in [*keys, key])
        if isinstance(value, dict):
            where[(*loc, key)] = len(out) + 1
            out.append(f"[{header}]")
            _emit_toml(value, (*loc, key), [*keys, key], out, where)
        elif _is_table_array(value):
            for index, item in enumerate(value):
                where[(*loc, key, index)] = len(out) + 1
                out.append(f"[[{header}]]")
                _emit_toml(item, (*loc, key, index), [*keys, key], out, where)


_toml_scalars = st.one_of(st.text(max_size=10), st.integers(-(2**63), 2**63 - 1), st.booleans())
_toml_keys = st.text(max_size=6)
_toml_trees: st.SearchStrategy[Any] = st.recursive(
    _toml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(_toml_keys, children, max_size=3),
        st.lists(st.dictionaries(_toml_keys, children, max_size=3), min_size=1, max_size=3),
    ),
    max_leaves=20,
)


@FUZZ
@given(st.dictionaries(_toml_keys, _toml_trees, min_size=1, max_size=5))
def test_toml_round_trip_lines(data: dict[str, Any]) -> None:
    out: list[str] = []
    where: dict[Loc, int] = {}
    _emit_toml(data, (), [], out, where)
    text = "\n".join(out) + "\n"
    doc = parse_document(text, source="rt.toml", fmt="toml")
    assert doc.data == data
    _check_document(doc, text)
    for loc, line in where.items():
        assert doc.lines.get(loc) == line, (loc, text)
    for loc in _all_locs(data):
        assert doc.line_of(loc) is not None


# Plausible TOML lines (headers, dotted and quoted keys, multi-line strings and arrays),
# shuffled together: the result may or may not be valid TOML.

_toml_names = st.sampled_from(["a", "b", "tenant", '"x.y"', "'q'", "a.b", "b . c", '"" '])
_toml_literals = st.sampled_from(
    [
        "1",
        "'s'",
        '"t\\u00e9"',
        "true",
        "1979-05-27T07:32:00Z",
        "07:32:00",
        "[1, 2]",
        "[\n  1, # c ]\n  'x]',\n]",
        '"""\n[a]\nb = 1\n"""',
        "'''\nx = '\n'''",
        '""""quoted""""',
        "{ c = 1, d = [2] }",
        "{",
        "[",
        '"""',
    ]
)
_toml_lines = st.one_of(
    st.builds(lambda name: f"[{name}]", _toml_names),
    st.builds(lambda name: f"[[{name}]]", _toml_names),
    st.builds(lambda name, value: f"{name} = {value}", _toml_names, _toml_literals),
    st.sampled_from(["", "# comment", "  ", "= 1", "[", "]]"]),
)


@FUZZ
@given(st.lists(_toml_lines, max_size=12))
def test_fuzz_plausible_toml(lines: list[str]) -> None:
    text = "\n".join(lines)
    doc = _parses_or_config_error(text, "toml")
    if doc is not None:
        for loc in doc.lines:
            assert doc.line_of(loc) is not None


# Secret references: any mix resolves or raises ConfigError, never leaking a value.

_ref_names = st.sampled_from(["A", "B", "_C", "1D", "file:nope", "file:", ""])
_ref_strings = st.one_of(
    st.text(max_size=8),
    st.builds(lambda name: f"${{{name}}}", _ref_names),
    st.builds(lambda name: f"$${{{name}}}", _ref_names),
)
_ref_trees: st.SearchStrategy[Any] = st.recursive(
    st.one_of(_ref_strings, st.integers()),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=12,
)


@FUZZ
@given(st.dictionaries(st.text(max_size=4), _ref_trees, max_size=4))
def test_fuzz_resolve_references(data: dict[str, Any]) -> None:
    environ = {"A": SECRET, "_C": SECRET + "2"}
    doc = from_mapping(data, source=os.path.join("/nonexistent-dir", "t.yaml"))
    try:
        resolved = resolve_references(doc, environ=environ)
    except ConfigError as error:
        assert SECRET not in str(error)
        assert SECRET not in repr(error)
    else:
        assert _all_locs(resolved.data) == _all_locs(doc.data)
