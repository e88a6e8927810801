"""``finplug_demo_story``: plugins play their own part of ``finplug demo``."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from rich.text import Text

from finplug import Money, NoSettings, Platform, Plugin, PluginMeta, hookimpl
from finplug._demo import run_demo


class Teller(Plugin[NoSettings]):
    """Books one entry and tells what it did."""

    meta = PluginMeta(name="teller", version="0")

    @hookimpl
    def finplug_demo_story(self) -> list[object] | None:
        """Open two accounts, move 7.50 EUR, say so."""
        ledger = self.context.component("ledger")
        ledger.open_account("till", "asset", "EUR", overdraft="unlimited")  # type: ignore[attr-defined]
        ledger.open_account("sales", "income", "EUR")  # type: ignore[attr-defined]
        ledger.transfer("demo:sale", "till", "sales", Money("7.50", "EUR"))  # type: ignore[attr-defined]
        return [Text("teller: sold one coffee"), "teller: done"]


class Broken(Plugin[NoSettings]):
    """A story that raises: reported, and the others still play."""

    meta = PluginMeta(name="broken", version="0")

    @hookimpl
    def finplug_demo_story(self) -> list[object] | None:
        """Fail."""
        raise RuntimeError("no coffee beans")


class Opener(Plugin[NoSettings]):
    """A ``tryfirst`` story: it plays before the others, whatever the hook order."""

    meta = PluginMeta(name="zz-opener", version="0")

    @hookimpl(tryfirst=True)
    def finplug_demo_story(self) -> list[object] | None:
        """Set the scene."""
        return ["opener: doors open"]


class Silent(Plugin[NoSettings]):
    """A plugin without a story: nothing is printed for it."""

    meta = PluginMeta(name="silent", version="0")


def test_hook_finplug_demo_story(tmp_path: Path) -> None:
    folder = tmp_path / "tenants"
    folder.mkdir()
    (folder / "cafe.yaml").write_text(
        "tenant: cafe\nplugins:\n  broken: {}\n  teller: {}\n  silent: {}\n  zz-opener: {}\n",
        encoding="utf-8",
    )
    out = io.StringIO()
    platform = Platform(
        [Teller, Broken, Silent, Opener],
        environ={},
        database_url=f"sqlite:///{tmp_path}/db/{{tenant}}.db",
    )
    with platform:
        run_demo(platform, folder, Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert "broken: its demo story failed: RuntimeError: no coffee beans" in text
    assert "teller: sold one coffee" in text
    assert "teller: done" in text
    # Stories play in the order pluggy calls the hook: a tryfirst one first.
    opened = text.index("opener: doors open")
    assert opened < text.index("broken: its demo story")
    assert opened < text.index("teller: sold one coffee")
    # The kernel shows the tenant's ledger after the stories, and verifies it.
    assert "ledger balances" in text
    assert "7.50 EUR" in text
    assert "ledger: 1 entries, hash chain and balances verified" in text
