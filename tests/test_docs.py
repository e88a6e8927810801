"""Docs grow with the code: every hook documented and tested, every public name documented."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import finplug
from finplug import components, hookspecs, testing, types
from finplug._registry import spec_names
from finplug.sockets import billing, fees, payments, reconciliation, risk

#: Every spec module the kernel ships: its own and its sockets'.
SOCKET_SPECS = frozenset(
    {"finplug.sockets.risk", "finplug.sockets.fees", "finplug.sockets.payments.hookspecs"}
)
ALL_HOOKS = sorted(spec_names(SOCKET_SPECS))

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
PAGES = [
    "index",
    "writing-plugins",
    "composing-tenants",
    "hooks",
    "cli",
    "money",
    "storage",
    "ledger",
    "unit-of-work",
    "routing",
    "channel-connectors",
    "payments",
    "risk-engine",
    "settlement",
    "reconciliation",
    "reconciliation-formats",
    "reconciliation-matching",
    "billing",
    "reference",
]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("page", PAGES)
def test_page_exists_and_its_python_compiles(page: str) -> None:
    text = (DOCS / f"{page}.md").read_text(encoding="utf-8")
    assert text.startswith("# ")
    for i, block in enumerate(python_blocks(text)):
        compile(block, f"docs/{page}.md block {i}", "exec")


@pytest.mark.parametrize("hook", ALL_HOOKS)
def test_hook_is_documented(hook: str) -> None:
    text = (DOCS / "hooks.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {hook}\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert match, f"docs/hooks.md has no '## {hook}' section"
    section = match.group(1)
    assert f"def {hook}(" in section, "the section must show the signature"
    for label in ("**Parameters**", "**Combination**", "**When nobody implements it**"):
        assert label in section, f"{hook}: missing {label}"
    assert "**Example**" in section
    if hook in spec_names():
        assert f"tenant.hooks.{hook}(" in section, "show the typed call"
    else:  # a socket's hook: called through the socket's typed view
        assert re.search(rf"\w+_hooks\.of\([\w.]+\)\.{hook}\(", section), "show the typed call"
        assert "**Socket**" in section, f"{hook}: name its socket"


@pytest.mark.parametrize("hook", ALL_HOOKS)
def test_hook_has_its_own_test(hook: str) -> None:
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").glob("test_*.py"))
    assert f"def test_hook_{hook}(" in sources, f"no test_hook_{hook} in tests/"


def test_documented_hooks_all_exist() -> None:
    text = (DOCS / "hooks.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^## (finplug_\w+)$", text, flags=re.M))
    assert documented == set(ALL_HOOKS)


@pytest.mark.parametrize(
    "module",
    [finplug, hookspecs, components, testing, types, risk, fees, payments, billing, reconciliation],
)
def test_public_names_have_docstrings(module: object) -> None:
    missing = []
    for name in module.__all__:  # type: ignore[attr-defined]
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            if not inspect.getdoc(obj):
                missing.append(name)
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith("_") or not callable(member):
                        continue
                    if not inspect.getdoc(member):
                        missing.append(f"{name}.{attr}")
    assert missing == []


def test_public_api_is_complete_and_versioned() -> None:
    # ruff (RUF022) keeps __all__ sorted; here: every name resolves, and the version is lazy.
    for name in finplug.__all__:
        assert getattr(finplug, name) is not None
    assert finplug.__version__ == "0.1.0"


def test_storage_page_example_plugin_works(tmp_path: Path) -> None:
    text = (DOCS / "storage.md").read_text(encoding="utf-8")
    [block] = [b for b in python_blocks(text) if "class NotesPlugin" in b]
    namespace: dict[str, object] = {}
    exec(compile(block, "docs/storage.md", "exec"), namespace)
    notes_plugin = namespace["NotesPlugin"]
    platform = finplug.Platform(
        [notes_plugin],  # type: ignore[list-item]
        environ={},
        database_url=f"sqlite:///{tmp_path}/{{tenant}}.db",
    )
    platform.add_tenant({"tenant": "acme", "plugins": {"notes": {}}})
    plugin = platform.tenant("acme").plugin("notes")
    plugin.add("hello")  # type: ignore[attr-defined]
    assert plugin.bodies() == ["hello"]  # type: ignore[attr-defined]


def test_unit_of_work_page_example_runs_once_per_key(tmp_path: Path) -> None:
    from sqlalchemy import func, select

    text = (DOCS / "unit-of-work.md").read_text(encoding="utf-8")
    [block] = [b for b in python_blocks(text) if "class ShopPlugin" in b]
    namespace: dict[str, object] = {}
    exec(compile(block, "docs/unit-of-work.md", "exec"), namespace)
    with testing.isolated_tenant([namespace["ShopPlugin"]]) as tenant:  # type: ignore[list-item]
        tenant.storage.create_all(namespace["metadata"])  # type: ignore[arg-type]
        tenant.ledger.open_account("receivable", "asset", "EUR")
        tenant.ledger.open_account("sales", "income", "EUR")
        shop = tenant.plugin("shop")
        amount = finplug.Money("12.30", "EUR")
        assert shop.place("k1", "o-1", amount) == "placed o-1"  # type: ignore[attr-defined]
        assert shop.place("k1", "o-1", amount) == "placed o-1"  # type: ignore[attr-defined]
        with pytest.raises(finplug.IdempotencyConflictError):
            shop.place("k1", "o-2", amount)  # type: ignore[attr-defined]
        with tenant.storage.begin() as conn:
            rows = conn.execute(select(func.count()).select_from(namespace["orders"]))  # type: ignore[arg-type]
            assert rows.scalar_one() == 1
        assert tenant.ledger.balance("sales").posted == amount
        assert len(tenant.events.events()) == 1


#: Sockets that are named and versioned but not built: their modules say "reserved".
#: Sockets named and versioned but without an interface yet (none since billing 0.2).
RESERVED: frozenset[str] = frozenset()
_STATUS = re.compile(r"\breserved\b|\bnot built yet\b", re.I)


def _built_names() -> frozenset[str]:
    """Every built socket, kernel component and bundled plugin, by the names pages use."""
    import pkgutil

    from finplug import sockets

    socket_names = {m.name for m in pkgutil.iter_modules(sockets.__path__)} - RESERVED
    plugins = {p.name for p in (ROOT / "plugins").iterdir() if p.name.startswith("finplug-")}
    short = {p.removeprefix("finplug-") for p in plugins}
    return frozenset(socket_names | set(components.COMPONENTS) | plugins | short)


def _status_claims(text: str) -> list[tuple[str, str]]:
    """(subject, clause) for every clause calling something reserved or not built yet.

    A table row's subject is its first cell; elsewhere the clause (between
    ``.``, ``;``, parentheses) is its own subject.
    """
    claims = []
    for line in text.splitlines():
        if not _STATUS.search(line):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        is_row = line.lstrip().startswith("|") and len(cells) > 1
        subject = cells[0] if is_row else ""
        for i, cell in enumerate(cells if is_row else [line]):
            clauses = [c for c in re.split(r"[.;()](?:\s|$)", cell) if _STATUS.search(c)]
            claims += [("" if i == 0 else subject, c) for c in clauses]
    return claims


def _named(fragment: str, *, plain: bool) -> set[str]:
    """Built names in ``fragment``: in code spans (and as plain words when ``plain``)."""
    names = _built_names()
    found = set()
    for span in re.findall(r"`([^`]+)`", fragment):
        parts = set(re.split(r"[.\s]", span))
        found |= parts & names
    if plain:
        found |= {n for n in names if re.search(rf"(?<![\w`-]){re.escape(n)}(?![\w`-])", fragment)}
    return found


def _doc_pages() -> list[Path]:
    return [
        *sorted(DOCS.glob("*.md")),
        ROOT / "README.md",
        *sorted(ROOT.glob("plugins/*/README.md")),
    ]


@pytest.mark.parametrize("page", _doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_calls_a_built_component_reserved(page: Path) -> None:
    wrong = []
    for subject, clause in _status_claims(page.read_text(encoding="utf-8")):
        named = _named(subject, plain=True) | _named(clause, plain=False)
        if named:
            wrong.append(f"{sorted(named)}: {clause!r}")
    assert wrong == [], "built components called reserved or not built yet"


def test_reserved_sockets_say_so_in_their_modules() -> None:
    sockets = ["billing", "fees", "payments", "reconciliation", "risk", "settlement"]
    for name in sockets:
        module = __import__(f"finplug.sockets.{name}", fromlist=["SOCKET"])
        says = "reserved" in (module.__doc__ or "").splitlines()[0]
        assert says == (name in RESERVED), name


def test_the_reserved_check_catches_a_stale_page() -> None:
    stale = (
        "| sockets `payments`, `billing` | reserved |\n"
        "`risk` is not built yet. Funds are reserved.\n"
    )
    found = [
        sorted(_named(s, plain=True) | _named(c, plain=False)) for s, c in _status_claims(stale)
    ]
    assert found == [["billing", "payments"], ["risk"], []]
