"""Fuzzing the whole config path: any YAML or TOML either loads or raises ConfigError."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finplug import ConfigError, Platform
from sample_plugins import FeeEcho, PaymentsPlugin, SampleRiskPlugin

PLATFORM_PLUGINS = [PaymentsPlugin, SampleRiskPlugin, FeeEcho]

keys = st.sampled_from(
    ["tenant", "name", "plugins", "payments", "sample-risk", "fee-echo", "channels", "currency",
     "fee_rate", "api_key", "tag", "limit", "database", "url", "schema", "x"]
)  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["EUR", "acme", "0.01", "${UNSET}", "${file:/nonexistent}", "$${X}", "1e999"]),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)
    ),
    max_leaves=25,
)
# Mostly well-shaped configs, so the fuzzer reaches plugin settings validation too.
configs = st.fixed_dictionaries(
    {"tenant": st.sampled_from(["acme", "Bad Id", "x" * 70, "ok-1"])},
    optional={
        "plugins": st.dictionaries(
            st.sampled_from(["payments", "sample-risk", "fee-echo", "ghost"]),
            st.one_of(st.none(), st.dictionaries(keys, documents, max_size=4)),
            max_size=3,
        ),
        "database": documents,
        "name": documents,
    },
)


def toml_text(value: Any, prefix: str = "") -> str:
    """A rough TOML writer: good enough to produce valid and invalid documents alike."""
    lines, tables = [], []
    if isinstance(value, dict):
        for key, item in value.items():
            name = f'"{key}"'
            if isinstance(item, dict):
                tables.append(toml_text(item, f"{prefix}{name}."))
            else:
                lines.append(f"{name} = {toml_value(item)}")
    header = f"[{prefix.rstrip('.')}]\n" if prefix else ""
    return header + "\n".join(lines) + "\n" + "".join(tables)


def toml_value(item: Any) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, list):
        return "[" + ", ".join(toml_value(i) for i in item) + "]"
    if item is None or isinstance(item, dict):
        return '""'
    if isinstance(item, str):
        return '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(item)


def check(path: Path) -> None:
    platform = Platform(PLATFORM_PLUGINS, environ={})
    try:
        platform.add_tenant(path)
    except ConfigError as exc:
        assert exc.issues
        for issue in exc.issues:
            assert issue.source == str(path)
            assert issue.message
    else:
        [tenant_id] = platform.tenant_ids
        platform.tenant(tenant_id)  # what validates must also assemble


fuzz = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fuzz
@given(data=st.one_of(configs, documents))
def test_random_yaml_loads_or_raises_config_error(data: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tenant.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        check(path)


@fuzz
@given(data=configs)
def test_random_toml_loads_or_raises_config_error(data: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tenant.toml"
        path.write_text(toml_text(data), encoding="utf-8")
        check(path)


@fuzz
@given(raw=st.binary(max_size=300), suffix=st.sampled_from([".yaml", ".toml", ".yml"]))
def test_random_bytes_load_or_raise_config_error(raw: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"tenant{suffix}"
        path.write_bytes(raw)
        check(path)
