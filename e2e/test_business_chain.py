"""End to end: the bundled plugins, installed, run the seed's business chain as far as it exists.

A host's view only: the plugins come from their entry points
(:meth:`finplug.Platform.discover`), the tenant from a YAML file, the calls
through ``tenant.component(PAYMENTS)``, ``tenant.ledger`` and
``tenant.events``, and the jobs through the ``finplug`` command in a process
of its own. Every test runs on SQLite, and on PostgreSQL when
``FINPLUG_TEST_DATABASE_URL`` is set (the kit's ``finplug_database_url``).

The chain, in one wealth-management tenant (EUR):

1. a customer tops up her wallet by bank transfer (a loading fee to the partner bank);
2. a card payment is routed past an unavailable acquirer, authorized and captured
   (an acquiring fee to the platform), then partly refunded;
3. a large payment is held for risk review and approved; a larger one is declined;
4. an acquirer times out on a payment, which stays ``unknown`` until
   ``finplug jobs run`` settles it; it is captured afterwards;
5. ``finplug jobs run`` also delivers the outbox's events, each exactly once;
6. the ledger verifies, every account holds an exact figure, and the
   balances on each side sum to the same total.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from finplug import Money, Platform, Tenant
from finplug.sockets.payments import PAYMENTS, PaymentBusyError, PaymentsAPI, PaymentStatus
from finplug.testing import new_tenant_id

S = PaymentStatus

#: The plugins this repository ships, by entry-point name and distribution.
BUNDLED = {
    "channels-sim": "finplug-channels-sim",
    "fee-schedule": "finplug-fee-schedule",
    "payments": "finplug-payments",
    "risk-rules": "finplug-risk-rules",
}

#: The tenant, as its operator writes it. ``TENANT`` is replaced by a fresh id.
TENANT_YAML = """\
tenant: TENANT
name: Wealth end to end
plugins:
  risk-rules:
    review_above:
      EUR: "500.00"
    decline_above:
      EUR: "1000.00"
  fee-schedule:
    rules:
      - code: acquiring
        operation: capture
        payment_method: card
        rate: "0.015"
        beneficiary: platform
      - code: loading
        operation: topup
        rate: "0.01"
        beneficiary: partner-bank
  payments:
    routing:
      strategy: priority
      priority: [card-a, card-b]
    janitor_grace_seconds: 0
  channels-sim:
    seed: 7
    channels:
      - name: card-a
        methods: [card]
        currencies: [EUR]
        script:
          "250.00": unavailable               # an outage: the payment moves on to card-b
          "14.00": authorize:timeout_applied  # no answer, though the acquirer did it
      - name: card-b
        methods: [card]
        currencies: [EUR]
      - name: bank
        methods: [bank_transfer]
        currencies: [EUR]
"""


def eur(value: str) -> Money:
    """``value`` euros."""
    return Money(value, "EUR")


def finplug(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the ``finplug`` command in a process of its own, as an operator's scheduler would."""
    return subprocess.run(
        [sys.executable, "-m", "finplug", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class Wealth:
    """The tenant under test, its config folder and database, and the host's handles."""

    def __init__(self, platform: Platform, tenant_id: str, folder: Path, url: str) -> None:
        self.platform = platform
        self.tenant_id = tenant_id
        self.folder = folder
        self.url = url
        self.keys = 0

    @property
    def tenant(self) -> Tenant:
        """The tenant's current runtime."""
        return self.platform.tenant(self.tenant_id)

    @property
    def payments(self) -> PaymentsAPI:
        """The tenant's payments component, typed by its socket."""
        return self.tenant.component(PAYMENTS)

    def key(self) -> str:
        """A new idempotency key."""
        self.keys += 1
        return f"e2e-{self.keys}"

    def jobs_run(self, *args: str, state: Path) -> subprocess.CompletedProcess[str]:
        """``finplug jobs run ARGS`` over this tenant's folder and database."""
        where = ["--tenants", str(self.folder), "--database-url", self.url]
        return finplug("jobs", "run", *args, *where, "--state", str(state))

    def posted(self) -> dict[str, Money]:
        """Every account's posted balance (signed by its normal side), by code."""
        ledger = self.tenant.ledger
        return {a.code: ledger.balance(a.code).posted for a in ledger.accounts()}


def jobs_done(ran: subprocess.CompletedProcess[str], tenant_id: str) -> dict[str, str]:
    """Job name -> summary of a ``finplug jobs run`` in which every job succeeded."""
    assert ran.returncode == 0, ran.stdout + ran.stderr
    done = {}
    for line in ran.stdout.splitlines():
        job, _, summary = line.removeprefix(f"{tenant_id} ").partition(": ok ")
        assert summary, line
        done[job] = summary
    return done


@pytest.fixture
def wealth(finplug_database_url: str, tmp_path: Path) -> Iterator[Wealth]:
    """The tenant, loaded from its YAML file by a platform over the installed plugins."""
    tenant_id = new_tenant_id()
    folder = tmp_path / "tenants"
    folder.mkdir()
    (folder / f"{tenant_id}.yaml").write_text(TENANT_YAML.replace("TENANT", tenant_id))
    # The process environment, as the finplug command reads it (tenant roles on PostgreSQL).
    platform = Platform.discover(database_url=finplug_database_url)
    made = Wealth(platform, tenant_id, folder, finplug_database_url)
    try:
        assert platform.load_tenants(folder) == [tenant_id]
        platform.upgrade(tenant_id)
        yield made
    finally:
        if tenant_id in platform.tenant_ids:
            made.tenant.storage.drop()
        platform.close()


def test_the_bundled_plugins_are_installed_and_the_tenant_config_checks(wealth: Wealth) -> None:
    """Discovery finds each bundled plugin in its own distribution; ``finplug check`` agrees."""
    records = {r.name: r for r in wealth.platform.plugins}
    for name, distribution in BUNDLED.items():
        assert records[name].status == "loaded", records[name].error
        assert records[name].distribution == distribution
    assert set(BUNDLED) <= set(wealth.tenant.plugin_names)
    assert wealth.tenant.check() == []
    checked = finplug("check", str(wealth.folder))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_business_chain_books_every_cent(wealth: Wealth, tmp_path: Path) -> None:
    """Top-up, card payment, refund, risk, a timeout settled by the jobs: the books add up."""
    payments = wealth.payments

    # 1. Top-up: the wallet is funded, less the partner bank's 1 % loading fee.
    topup = payments.topup(
        wealth.key(), customer_id="ana", amount=eur("200.00"), method="bank_transfer"
    )
    assert (topup.status, topup.channel, topup.fees) == (S.CAPTURED, "bank", eur("2.00"))

    # 2. A card payment: card-a is down, card-b authorizes; captured whole, refunded in part.
    card = payments.authorize(
        wealth.key(), amount=eur("250.00"), merchant_id="m-001", method="card"
    )
    assert (card.status, card.channel) == (S.AUTHORIZED, "card-b")
    assert [(a.channel, a.status) for a in card.attempts] == [
        ("card-a", "failed"),
        ("card-b", "succeeded"),
    ]
    captured = payments.capture(wealth.key(), card.id)
    assert (captured.status, captured.captured, captured.fees) == (
        S.CAPTURED,
        eur("250.00"),
        eur("3.75"),
    )
    refunded = payments.refund(wealth.key(), card.id, eur("50.00"))
    assert (refunded.status, refunded.refunded) == (S.PARTIALLY_REFUNDED, eur("50.00"))

    # 3. Risk: above 500.00 waits for review (approved here), above 1000.00 is declined.
    held = payments.authorize(
        wealth.key(), amount=eur("600.00"), merchant_id="m-001", method="card"
    )
    assert held.status is S.REQUIRES_ACTION
    assert held.attempts == ()  # no acquirer asked before the review
    approved = payments.confirm(wealth.key(), held.id, approve=True)
    assert (approved.status, approved.channel) == (S.AUTHORIZED, "card-a")
    big = payments.capture(wealth.key(), held.id)
    assert (big.status, big.fees) == (S.CAPTURED, eur("9.00"))
    declined = payments.authorize(
        wealth.key(), amount=eur("1500.00"), merchant_id="m-001", method="card"
    )
    assert (declined.status, declined.failure_code, declined.attempts) == (
        S.FAILED,
        "risk_declined",
        (),
    )

    # 4. A timeout: the outcome is unknown, so nothing is booked and nothing else may happen.
    entries = len(wealth.tenant.ledger.entries())
    stuck = payments.authorize(
        wealth.key(), amount=eur("14.00"), merchant_id="m-002", method="card"
    )
    assert (stuck.status, stuck.channel) == (S.UNKNOWN, None)
    assert len(wealth.tenant.ledger.entries()) == entries
    assert "payments:merchant:m-002:EUR" not in wealth.posted()
    with pytest.raises(PaymentBusyError):
        payments.capture(wealth.key(), stuck.id)
    assert len(wealth.tenant.events.undelivered()) == 14  # nothing delivered yet

    # 5. The operator's scheduler runs the jobs, each run in a process of its own. In a run
    # the outbox goes first (the kernel's plugins come first), the janitor last.
    state = tmp_path / "jobs.json"
    ran = wealth.jobs_run("--tenant", wealth.tenant_id, state=state)
    done = jobs_done(ran, wealth.tenant_id)
    assert (done["events.dispatch"], done["payments.janitor"]) == ("14 delivered", "1 settled")
    settled = payments.get(stuck.id)
    assert (settled.status, settled.channel) == (S.AUTHORIZED, "card-a")
    merchant2 = wealth.tenant.ledger.balance("payments:merchant:m-002:EUR")
    assert merchant2.credits_pending == eur("14.00")
    assert [e.type for e in wealth.tenant.events.undelivered()] == ["payment.authorized"]
    finished = payments.capture(wealth.key(), stuck.id)
    assert (finished.status, finished.fees) == (S.CAPTURED, eur("0.21"))
    # The next run delivers what happened since; the janitor has nothing left.
    ran = wealth.jobs_run(state=state)
    done = jobs_done(ran, wealth.tenant_id)
    assert (done["events.dispatch"], done["payments.janitor"]) == ("2 delivered", "0 settled")
    assert wealth.tenant.events.undelivered() == []
    assert len(wealth.tenant.events.events()) == 16

    # Every payment's story is in the outbox, in order.
    def story(payment_id: str) -> list[str]:
        return [e.type for e in wealth.tenant.events.events(aggregate=f"payment:{payment_id}")]

    assert story(topup.id) == ["topup.created", "topup.captured"]
    assert story(card.id) == [
        "payment.created",
        "payment.authorized",
        "payment.captured",
        "payment.partially_refunded",
    ]
    assert story(held.id) == [
        "payment.created",
        "payment.requires_action",
        "payment.authorized",
        "payment.captured",
    ]
    assert story(declined.id) == ["payment.created", "payment.failed"]
    assert story(stuck.id) == [
        "payment.created",
        "payment.unknown",
        "payment.authorized",
        "payment.captured",
    ]

    # 6. The books: the hash chain verifies and every cent is where it should be.
    assert wealth.tenant.ledger.verify().ok
    assert wealth.tenant.ledger.open_holds() == []
    posted = wealth.posted()
    assert posted == {
        "payments:clearing:bank:EUR": eur("200.00"),
        "payments:clearing:card-a:EUR": eur("614.00"),
        "payments:clearing:card-b:EUR": eur("200.00"),
        "payments:wallet:ana:EUR": eur("198.00"),
        "payments:merchant:m-001:EUR": eur("787.25"),
        "payments:merchant:m-002:EUR": eur("13.79"),
        "payments:fees:platform:EUR": eur("12.96"),
        "payments:fees:partner-bank:EUR": eur("2.00"),
    }
    # Double entry: the debit-normal accounts (the channels' clearing) hold exactly what the
    # credit-normal ones (wallets, merchants, fee income) owe, and debits equal credits.
    ledger = wealth.tenant.ledger
    accounts = ledger.accounts()
    sides = {
        side: sum((posted[a.code] for a in accounts if a.normal == side), eur("0"))
        for side in ("debit", "credit")
    }
    assert sides == {"debit": eur("1014.00"), "credit": eur("1014.00")}
    # Posted debits: top-up 200.00 + its fee 2.00, captures 250.00 + 600.00 + 14.00 and
    # their fees 3.75 + 9.00 + 0.21, refund 50.00.
    balances = [ledger.balance(a.code) for a in accounts]
    debits = sum((b.debits_posted for b in balances), eur("0"))
    assert debits == sum((b.credits_posted for b in balances), eur("0")) == eur("1128.96")
    # What the fee accounts hold is what the payments say they were charged, to the cent.
    assert sum((p.fees for p in wealth.payments.list()), eur("0")) == eur("14.96")
