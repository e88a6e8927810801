"""Live config swap: reload is atomic, calls in flight finish on the old runtime."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from finplug import (
    ConfigError,
    Money,
    Platform,
    Plugin,
    PluginMeta,
    TenantNotFoundError,
    hookimpl,
)
from finplug.sockets.fees import Fee, FeeContext, fee_hooks

CTX = FeeContext("capture", Money("1.00", "EUR"))


class VersionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int


class First(Plugin[VersionSettings]):
    meta = PluginMeta(
        sockets={"fees": ">=1.0,<2"}, name="first", version="0", settings=VersionSettings
    )

    @hookimpl
    def finplug_calculate_fees(self, context: FeeContext) -> list[Fee] | None:
        return [Fee(f"first-{self.settings.version}", context.amount * 0)]


class Second(Plugin[VersionSettings]):
    meta = PluginMeta(
        sockets={"fees": ">=1.0,<2"}, name="second", version="0", settings=VersionSettings
    )

    @hookimpl
    def finplug_calculate_fees(self, context: FeeContext) -> list[Fee] | None:
        return [Fee(f"second-{self.settings.version}", context.amount * 0)]


def config(version: int) -> dict[str, object]:
    return {
        "tenant": "acme",
        "plugins": {"first": {"version": version}, "second": {"version": version}},
    }


def codes(platform: Platform) -> list[str]:
    return [
        b[0].code
        for b in fee_hooks.of(platform.tenant("acme").hooks).finplug_calculate_fees(context=CTX)
    ]


def test_reload_under_concurrent_calls_never_mixes_runtimes() -> None:
    platform = Platform([First, Second], environ={})
    platform.add_tenant(config(0))
    stop = threading.Event()
    seen: set[int] = set()
    errors: list[BaseException] = []

    def caller() -> None:
        try:
            while not stop.is_set():
                answer = codes(platform)
                versions = {code.split("-")[1] for code in answer}
                assert len(answer) == 2, answer
                assert len(versions) == 1, answer  # both plugins from one runtime
                seen.add(int(versions.pop()))
        except BaseException as exc:  # reported to the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(4)]
    for t in threads:
        t.start()
    version = 0
    try:
        # Keep swapping until the callers have seen several runtimes (bounded).
        while version < 5000 and (version < 200 or len(seen) < 3):
            version += 1
            platform.reload("acme", config(version))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    assert len(seen) >= 3  # the callers really did observe several swaps
    assert codes(platform) == [f"first-{version}", f"second-{version}"]


def test_call_in_flight_finishes_on_the_old_runtime() -> None:
    entered, release = threading.Event(), threading.Event()

    class Slow(Plugin[VersionSettings]):
        meta = PluginMeta(
            sockets={"fees": ">=1.0,<2"}, name="slow", version="0", settings=VersionSettings
        )

        @hookimpl
        def finplug_calculate_fees(self, context: FeeContext) -> list[Fee] | None:
            if self.settings.version == 1:
                entered.set()
                assert release.wait(5)
            return [Fee(f"slow-{self.settings.version}", context.amount * 0)]

    platform = Platform([Slow], environ={})
    platform.add_tenant({"tenant": "t", "plugins": {"slow": {"version": 1}}})
    result: list[str] = []
    old = platform.tenant("t")
    worker = threading.Thread(
        target=lambda: result.append(
            fee_hooks.of(old.hooks).finplug_calculate_fees(context=CTX)[0][0].code
        )
    )
    worker.start()
    assert entered.wait(5)
    new = platform.reload("t", {"tenant": "t", "plugins": {"slow": {"version": 2}}})
    assert new is not old
    assert (
        fee_hooks.of(platform.tenant("t").hooks).finplug_calculate_fees(context=CTX)[0][0].code
        == "slow-2"
    )
    release.set()
    worker.join(5)
    assert result == ["slow-1"]


def test_failed_reload_keeps_the_old_runtime() -> None:
    platform = Platform([First], environ={})
    platform.add_tenant({"tenant": "acme", "plugins": {"first": {"version": 1}}})
    before = platform.tenant("acme")
    with pytest.raises(ConfigError, match=r"plugins\.first\.version"):
        platform.reload("acme", {"tenant": "acme", "plugins": {"first": {"version": "x"}}})
    with pytest.raises(ConfigError, match="got a config for tenant 'other'"):
        platform.reload("acme", {"tenant": "other", "plugins": {}})
    assert platform.tenant("acme") is before
    with pytest.raises(TenantNotFoundError):
        platform.reload("ghost")


def test_reload_rereads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text("tenant: acme\nplugins:\n  first: {version: 1}\n")
    platform = Platform([First, Second], environ={})
    platform.load_tenants(path)
    assert codes(platform) == ["first-1"]
    path.write_text("tenant: acme\nplugins:\n  first: {version: 2}\n  second: {version: 2}\n")
    platform.reload("acme")
    assert codes(platform) == ["first-2", "second-2"]
