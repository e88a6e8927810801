"""Reading a tenant config has limits: each hostile input fails fast with a located error."""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finplug import ConfigError, Platform, TenantConfig
from finplug._config import TENANT_ID_MAX_LENGTH
from finplug._errors import ConfigIssue
from finplug._sources import (
    DEFAULT_LIMITS,
    ConfigLimits,
    from_mapping,
    load_document,
    parse_document,
    reader,
    resolve_references,
    toml_reader,
)

ROOT = Path(__file__).parents[1]
POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX device files and FIFOs")


def only_issue(info: pytest.ExceptionInfo[ConfigError]) -> ConfigIssue:
    assert len(info.value.issues) == 1, info.value.issues
    return info.value.issues[0]


def secret_issue(tmp_path: Path, target: str, limits: ConfigLimits | None = None) -> ConfigIssue:
    """The one issue of resolving ``key: ${file:<target>}`` in a YAML config."""
    config = tmp_path / "acme.yaml"
    config.write_text(f"tenant: acme\nplugins:\n  pay:\n    key: ${{file:{target}}}\n")
    with pytest.raises(ConfigError) as info:
        resolve_references(load_document(config), environ={}, limits=limits)
    issue = only_issue(info)
    assert (issue.source, issue.line, issue.path) == (str(config), 4, "plugins.pay.key")
    return issue


@pytest.fixture
def memory_ceiling() -> Iterator[None]:
    """Cap this process's address space at its current size plus 1 GiB while the test runs.

    A test of unbounded reads then fails with ``MemoryError`` on code that has
    the bug, instead of taking the machine's memory.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows has neither the module nor /dev/zero
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[0])
        ceiling = pages * os.sysconf("SC_PAGE_SIZE") + (1 << 30)
    except (OSError, ValueError):  # pragma: no cover - not Linux
        yield
        return
    if hard != resource.RLIM_INFINITY:
        ceiling = min(ceiling, hard)
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Make a FIFO with a writer waiting on it (so that code opening it does not block forever).

    The writer writes nothing and closes; whatever opens the FIFO for reading
    sees end of file. At teardown a reader releases a writer nobody met.
    """
    made: list[tuple[Path, threading.Thread]] = []

    def make(name: str) -> Path:
        path = tmp_path / name
        os.mkfifo(path)
        writer = threading.Thread(target=lambda: open(path, "wb").close(), daemon=True)
        writer.start()
        made.append((path, writer))
        return path

    yield make
    for path, writer in made:
        if writer.is_alive():
            os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
        writer.join(timeout=5)


@pytest.fixture
def os_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the ``os.read`` calls made during the test (the loader reads with it)."""
    sizes: list[int] = []
    real_read = os.read

    def counting_read(fd: int, size: int) -> bytes:
        sizes.append(size)
        return real_read(fd, size)

    monkeypatch.setattr(os, "read", counting_read)
    return sizes


# ------------------------------------------------------------------ ${file:...}


@POSIX
@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero", "/dev/urandom"])
@pytest.mark.usefixtures("memory_ceiling")
def test_file_reference_refuses_device_files(tmp_path: Path, device: str) -> None:
    issue = secret_issue(tmp_path, device)
    assert issue.message == (
        f"secret file {device!r} is a character device; expected a regular file"
    )


@POSIX
@pytest.mark.usefixtures("memory_ceiling")
def test_file_reference_refuses_a_link_to_a_device(tmp_path: Path) -> None:
    (tmp_path / "key").symlink_to("/dev/zero")
    issue = secret_issue(tmp_path, "key")
    assert "is a character device; expected a regular file" in issue.message


@POSIX
def test_file_reference_refuses_stdin(tmp_path: Path) -> None:
    # Make fd 0 an empty pipe whatever the test runner's stdin is (a regular file if redirected).
    saved = os.dup(0)
    read_end, write_end = os.pipe()
    os.close(write_end)
    os.dup2(read_end, 0)
    try:
        issue = secret_issue(tmp_path, "/dev/stdin")
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(read_end)
    assert "is a named pipe (FIFO); expected a regular file" in issue.message


@POSIX
def test_file_reference_refuses_a_fifo(tmp_path: Path, fifo: Callable[[str], Path]) -> None:
    fifo("key.fifo")
    issue = secret_issue(tmp_path, "key.fifo")
    assert issue.message.endswith("is a named pipe (FIFO); expected a regular file")


def test_file_reference_refuses_a_directory(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    issue = secret_issue(tmp_path, "keys")
    assert (
        issue.message
        == "secret file 'keys' (looked for "
        + repr(str(tmp_path / "keys"))
        + ") is a directory; expected a regular file"
    )


def test_secret_file_larger_than_the_cap_is_refused(tmp_path: Path) -> None:
    cap = DEFAULT_LIMITS.max_secret_bytes
    (tmp_path / "big.key").write_bytes(b"k" * (cap + 1))
    issue = secret_issue(tmp_path, "big.key")
    assert issue.message.endswith(
        f"is too large: expected at most {cap:,} bytes (ConfigLimits.max_secret_bytes)"
    )
    (tmp_path / "fits.key").write_bytes(b"k" * cap)
    doc = from_mapping({"key": "${file:fits.key}"})
    assert resolve_references(doc, environ={}, base_dir=tmp_path).data["key"] == "k" * cap


def test_secret_file_cap_is_configurable(tmp_path: Path) -> None:
    (tmp_path / "small.key").write_text("0123456789abcdef\n")
    limits = ConfigLimits(max_secret_bytes=16)
    assert "expected at most 16 bytes" in secret_issue(tmp_path, "small.key", limits).message
    doc = from_mapping({"key": "${file:small.key}"})
    resolved = resolve_references(
        doc, environ={}, base_dir=tmp_path, limits=ConfigLimits(max_secret_bytes=17)
    )
    assert resolved.data["key"] == "0123456789abcdef"


def test_secret_file_is_never_read_past_its_cap(tmp_path: Path, os_reads: list[int]) -> None:
    huge = tmp_path / "huge.key"
    with huge.open("wb") as handle:
        handle.truncate(1 << 40)  # a sparse terabyte: reading it all would never end
    doc = from_mapping({"key": "${file:huge.key}"})
    with pytest.raises(ConfigError, match="is too large"):
        resolve_references(doc, environ={}, base_dir=tmp_path)
    assert os_reads == []  # refused on its size before any read


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="needs Linux /proc")
def test_secret_file_that_understates_its_size_is_read_only_to_the_cap(tmp_path: Path) -> None:
    # /proc files are regular files that report a size of 0 whatever they hold.
    assert Path("/proc/self/maps").stat().st_size == 0
    limits = ConfigLimits(max_secret_bytes=16)
    issue = secret_issue(tmp_path, "/proc/self/maps", limits)
    assert "is too large: expected at most 16 bytes" in issue.message


# ------------------------------------------------------------------ config files


def test_config_file_larger_than_the_cap_is_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_parsing(*args: object) -> Any:
        raise AssertionError("parsed a file over the size limit")

    monkeypatch.setattr(reader, "parse_yaml", no_parsing)
    path = tmp_path / "acme.yaml"
    cap = DEFAULT_LIMITS.max_file_bytes
    path.write_text("tenant: acme\n" + "#" * (cap - 13) + "\n")  # cap + 1 bytes
    with pytest.raises(ConfigError) as info:
        load_document(path)
    issue = only_issue(info)
    assert (issue.source, issue.line, issue.path) == (str(path), None, "")
    assert issue.message == (
        f"the config is too large: expected at most {cap:,} bytes (ConfigLimits.max_file_bytes)"
    )


def test_23_mb_yaml_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_parsing(*args: object) -> Any:
        raise AssertionError("parsed text over the size limit")

    monkeypatch.setattr(reader, "parse_yaml", no_parsing)
    with pytest.raises(ConfigError) as info:
        parse_document("a: b\n" * 4_600_000, source="big.yaml", fmt="yaml")
    assert "the config is too large" in only_issue(info).message


def test_config_size_counts_utf8_bytes() -> None:
    limits = ConfigLimits(max_file_bytes=20)
    assert parse_document("tenant: 'ééééé'", source=None, fmt="yaml", limits=limits)
    with pytest.raises(ConfigError, match="expected at most 20 bytes"):
        parse_document("tenant: 'éééééé'", source=None, fmt="yaml", limits=limits)


def test_config_file_is_never_read_past_its_cap(tmp_path: Path, os_reads: list[int]) -> None:
    path = tmp_path / "huge.toml"
    with path.open("wb") as handle:
        handle.truncate(1 << 40)
    with pytest.raises(ConfigError, match="the config is too large"):
        load_document(path)
    assert os_reads == []


@POSIX
@pytest.mark.usefixtures("memory_ceiling")
def test_config_file_must_be_a_regular_file(tmp_path: Path, fifo: Callable[[str], Path]) -> None:
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    with pytest.raises(ConfigError) as info:
        load_document(tmp_path / "zero.yaml")
    assert only_issue(info).message == (
        "cannot read the file: it is a character device, not a regular file"
    )
    path = fifo("piped.yaml")
    with pytest.raises(ConfigError) as info:
        load_document(path)
    assert only_issue(info).message == (
        "cannot read the file: it is a named pipe (FIFO), not a regular file"
    )


def test_config_limits_reach_tenant_configs(tmp_path: Path) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text("tenant: acme\nplugins:\n  pay:\n    key: ${file:key}\n")
    (tmp_path / "key").write_text("0123456789")
    config = TenantConfig.from_file(path, environ={})
    assert config.resolved_plugins()["pay"] == {"key": "0123456789"}
    with pytest.raises(ConfigError, match="expected at most 8 bytes"):
        TenantConfig.from_file(path, environ={}, limits=ConfigLimits(max_secret_bytes=8))
    with pytest.raises(ConfigError, match="the config is too large"):
        TenantConfig.from_file(path, environ={}, limits=ConfigLimits(max_file_bytes=16))
    with pytest.raises(ConfigError, match="nesting is deeper than 2 levels"):
        TenantConfig.from_file(path, environ={}, limits=ConfigLimits(max_depth=2))
    nested = {"tenant": "acme", "plugins": {"pay": {"a": {}}}}
    with pytest.raises(ConfigError) as info:
        TenantConfig.from_dict(nested, limits=ConfigLimits(max_depth=3))
    assert only_issue(info).path == "plugins.pay.a"


@pytest.mark.parametrize(
    "changes",
    [
        {"max_file_bytes": 0},
        {"max_secret_bytes": -1},
        {"max_depth": 1.5},
        {"max_key_parts": True},
    ],
)
def test_config_limits_must_be_positive_integers(changes: dict[str, Any]) -> None:
    [name] = changes
    with pytest.raises(ValueError, match=f"ConfigLimits.{name} must be a positive integer"):
        ConfigLimits(**changes)


# ------------------------------------------------------------------ nesting and key parts


def no_toml_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    def loads(text: str) -> Any:
        raise AssertionError("the TOML parser ran on a key over the limit")

    fake = SimpleNamespace(loads=loads, TOMLDecodeError=ValueError)
    monkeypatch.setattr(toml_reader, "tomllib", fake)


def test_toml_dotted_key_with_too_many_parts_is_refused_before_parsing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    no_toml_parser(monkeypatch)
    key = ".".join(["a"] * 15_500)  # 31 KB: 19 s of quadratic parsing before the limit
    text = f"tenant = 'x'\n\n[plugins.pay]\nfee = 1\n{key} = 1\n"
    with pytest.raises(ConfigError) as info:
        parse_document(text, source="acme.toml", fmt="toml")
    issue = only_issue(info)
    assert (issue.source, issue.line, issue.path) == ("acme.toml", 5, "plugins.pay")
    assert issue.message == (
        "a dotted key has more than 64 parts; expected at most 64 (ConfigLimits.max_key_parts)"
    )


@pytest.mark.parametrize(
    ("text", "line", "path"),
    [
        ("tenant = 'x'\n[" + ".".join(['"q"'] * 100) + "]\n", 2, ""),
        ("tenant = 'x'\n[[t]]\n[[t]]\n" + " . ".join(["k"] * 100) + " = 1\n", 4, "t[1]"),
        ("tenant = 'x'\n[t]\nv = {" + ".".join(["'k'"] * 100) + " = 1}\n", 3, "t"),
    ],
    ids=["quoted-header", "blanks-around-dots", "inline-table"],
)
def test_toml_key_part_limit_covers_every_kind_of_key(
    monkeypatch: pytest.MonkeyPatch, text: str, line: int, path: str
) -> None:
    no_toml_parser(monkeypatch)
    with pytest.raises(ConfigError) as info:
        parse_document(text, source="acme.toml", fmt="toml")
    issue = only_issue(info)
    assert (issue.line, issue.path) == (line, path)
    assert "a dotted key has more than 64 parts" in issue.message


def test_toml_key_part_limit_is_configurable_and_counts_only_keys() -> None:
    limits = ConfigLimits(max_key_parts=2)
    accepted = """
tenant = "x"
a.b = 1
f = 1.5
when = 1979-05-27T07:32:00.999-07:00
host = "a.b.c.d.e"
path = 'a.b.c.d.e'
text = \"\"\"
a.b.c.d.e = 1\"\"\"
lit = '''a.b.c.d.e'''
list = [1.5, 2.5] # a.b.c.d
"""
    doc = parse_document(accepted, source=None, fmt="toml", limits=limits)
    assert doc.data["host"] == "a.b.c.d.e"
    with pytest.raises(ConfigError) as info:
        parse_document("tenant = 'x'\na.b.c = 1\n", source=None, fmt="toml", limits=limits)
    assert only_issue(info).message == (
        "a dotted key has more than 2 parts; expected at most 2 (ConfigLimits.max_key_parts)"
    )


@pytest.mark.parametrize("fmt", ["yaml", "toml"])
def test_nesting_depth_limit_is_configurable(fmt: str) -> None:
    limits = ConfigLimits(max_depth=3)
    ok = {"yaml": "a:\n  b: [1]\n", "toml": "a.b = [1]\n"}[fmt]
    deep = {"yaml": "a:\n  b: [[1]]\n", "toml": "a.b = [[1]]\n"}[fmt]
    assert parse_document(ok, source=None, fmt=fmt, limits=limits)  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as info:
        parse_document(deep, source="x", fmt=fmt, limits=limits)  # type: ignore[arg-type]
    issue = only_issue(info)
    assert issue.line == {"yaml": 2, "toml": 1}[fmt]
    assert issue.message == (
        "nesting is deeper than 3 levels; expected at most 3 (ConfigLimits.max_depth)"
    )


def test_limits_default_to_documented_values() -> None:
    limits = DEFAULT_LIMITS
    assert (limits.max_file_bytes, limits.max_secret_bytes) == (262_144, 65_536)
    assert (limits.max_depth, limits.max_key_parts) == (64, 64)
    docs = (ROOT / "docs" / "composing-tenants.md").read_text(encoding="utf-8")
    for name, value in (
        ("max_file_bytes", "262,144"),
        ("max_secret_bytes", "65,536"),
        ("max_depth", "64"),
        ("max_key_parts", "64"),
    ):
        assert re.search(rf"\| `{name}` \| {value} ", docs), name


# ------------------------------------------------------------------ tenant ids


def test_tenant_id_limit_is_61_characters_and_the_error_says_so() -> None:
    assert TENANT_ID_MAX_LENGTH == 61  # "t_" + id is a PostgreSQL identifier of <= 63 bytes
    platform = Platform([], environ={})
    longest = "t" + "0" * 60
    assert platform.validate({"tenant": longest}).tenant_id == longest
    with pytest.raises(ConfigError) as info:
        platform.validate({"tenant": longest + "0"})
    issue = only_issue(info)
    assert issue.path == "tenant"
    assert issue.message == "String should have at most 61 characters"


def test_docs_state_the_tenant_id_limit_the_code_enforces() -> None:
    docs = (ROOT / "docs" / "composing-tenants.md").read_text(encoding="utf-8")
    [row] = [line for line in docs.splitlines() if line.startswith("| `tenant` |")]
    assert "at most 61 characters" in row
    for page in (ROOT / "docs").glob("*.md"):
        assert "at most 63 characters" not in page.read_text(encoding="utf-8"), page.name


_PART_TEXT = st.text(alphabet=st.sampled_from("ab-_.0 #'\"\\="), min_size=1, max_size=6)
_VALUE_TEXT = st.text(alphabet=st.sampled_from("ab.0 #'=[]{}"), max_size=20)


@st.composite
def _toml_entry(draw: st.DrawFn, index: int) -> tuple[str, int]:
    """One ``key = value`` line with a dotted key in any TOML spelling; returns it and its parts."""
    parts = [f"k{index}", *draw(st.lists(_PART_TEXT, max_size=7))]
    spelled = []
    for part in parts:
        if re.fullmatch(r"[A-Za-z0-9_-]+", part) and draw(st.booleans()):
            spelled.append(part)
        elif "'" not in part and draw(st.booleans()):
            spelled.append(f"'{part}'")
        else:
            spelled.append(json.dumps(part))
    key = draw(st.sampled_from([".", " . ", ".\t"])).join(spelled)
    value = draw(
        st.one_of(
            _VALUE_TEXT.map(json.dumps),
            _VALUE_TEXT.filter(lambda t: "'" not in t).map(lambda t: f"'{t}'"),
            _VALUE_TEXT.filter(lambda t: "'''" not in t and not t.endswith("'")).map(
                lambda t: f"'''{t}'''"
            ),
            st.sampled_from(["1.5", "-0.25e3", "1979-05-27T07:32:00.999-07:00", "[1.5, 2.5]"]),
            st.just('"""\na.b.c.d.e.f.g.h.i = 1\n"""'),
        )
    )
    comment = draw(st.sampled_from(["", " # a.b.c.d.e.f.g.h.i.j"]))
    return f"{key} = {value}{comment}", len(parts)


@st.composite
def _toml_documents(draw: st.DrawFn) -> tuple[str, int]:
    entries = [draw(_toml_entry(index)) for index in range(draw(st.integers(1, 5)))]
    return "\n".join(line for line, _ in entries) + "\n", max(parts for _, parts in entries)


@settings(max_examples=200, deadline=None)
@given(_toml_documents())
def test_toml_key_part_limit_is_exact(document: tuple[str, int]) -> None:
    """A document is accepted at exactly its longest key's parts, and refused one below.

    The limit is at least 2: a value such as ``1.5`` scans as a run of two parts.
    """
    text, longest = document
    limit = max(longest, 2)
    parse_document(text, source=None, fmt="toml", limits=ConfigLimits(max_key_parts=limit))
    if longest > 2:
        limits = ConfigLimits(max_key_parts=longest - 1)
        with pytest.raises(ConfigError, match="a dotted key has more than"):
            parse_document(text, source=None, fmt="toml", limits=limits)


def test_platform_applies_its_config_limits_to_every_file_it_reads(tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text("tenant: acme\nname: " + "A" * 2000 + "\n")
    small = Platform([], environ={}, config_limits=ConfigLimits(max_file_bytes=1024))
    [issue] = small.check(tmp_path)
    assert "max_file_bytes" in issue.message
    with pytest.raises(ConfigError, match="max_file_bytes"):
        small.load_tenants(tmp_path)
    assert Platform([], environ={}).load_tenants(tmp_path) == ["acme"]


def test_key_part_limit_below_two_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        ConfigLimits(max_key_parts=1)
