"""Block and allow lists: normalized values, expiry, one lookup per decision, an audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from finplug import Tenant
from finplug.testing import FinplugTenant
from finplug_risk_engine._plugin import RiskEnginePlugin
from finplug_risk_engine.lists import ListError, ListKind, RiskLists, Subject, normalize


class Clock:
    """A settable clock (UTC)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _lists(finplug_tenant: FinplugTenant, clock: Clock) -> tuple[Tenant, RiskLists]:
    tenant = finplug_tenant([RiskEnginePlugin], clock=clock)
    return tenant, RiskLists(tenant.storage.begin, clock=clock)


def test_values_are_normalized_before_they_are_stored_or_looked_up(
    finplug_tenant: FinplugTenant,
) -> None:
    _, lists = _lists(finplug_tenant, Clock())
    lists.add("block", "country", "kp", actor="ann", reason="sanctions")
    lists.add("block", "ip", "2001:DB8:0:0::1", actor="ann")
    lists.add("block", "email_domain", "someone@Mail.Example.COM.", actor="ann")
    assert lists.contains("block", "country", " KP ")
    assert lists.contains("block", "ip", "2001:db8::1")
    assert lists.contains("block", "email_domain", "mail.example.com")
    assert not lists.contains("allow", "country", "KP")
    assert [e.value for e in lists.entries("block")] == ["KP", "mail.example.com", "2001:db8::1"]


def test_one_query_finds_every_subject_allow_list_first(finplug_tenant: FinplugTenant) -> None:
    _, lists = _lists(finplug_tenant, Clock())
    lists.add("block", "customer", "c-9", actor="ann")
    lists.add("allow", "card_fingerprint", "fp-1", actor="bob", reason="known good")
    lists.add("block", "country", "KP", actor="ann")
    found = lists.matches(
        {
            Subject.CUSTOMER: "c-9",
            Subject.CARD_FINGERPRINT: "fp-1",
            Subject.COUNTRY: "DE",
            Subject.IP: "not an ip",  # matches nothing rather than failing the decision
            Subject.MERCHANT: None,
        }
    )
    assert [(e.list, e.subject, e.value) for e in found] == [
        (ListKind.ALLOW, Subject.CARD_FINGERPRINT, "fp-1"),
        (ListKind.BLOCK, Subject.CUSTOMER, "c-9"),
    ]
    assert found[0].reason == "known good"
    assert found[0].added_by == "bob"


def test_entries_expire_and_the_audit_keeps_who_did_what(finplug_tenant: FinplugTenant) -> None:
    clock = Clock()
    _, lists = _lists(finplug_tenant, clock)
    lists.add("block", "customer", "c-1", actor="ann", reason="chargebacks", ttl=timedelta(days=1))
    lists.add("block", "customer", "c-2", actor="ann")
    assert lists.contains("block", "customer", "c-1")
    clock.now += timedelta(days=1)
    assert not lists.contains("block", "customer", "c-1")
    assert lists.contains("block", "customer", "c-1", at=clock.now - timedelta(seconds=1))
    assert [e.value for e in lists.entries("block", include_expired=True)] == ["c-1", "c-2"]
    assert [e.value for e in lists.entries("block")] == ["c-2"]
    assert lists.expire(actor="janitor") == 1
    assert lists.remove("block", "customer", "c-2", actor="bob", reason="paid back")
    assert not lists.remove("block", "customer", "c-2", actor="bob")
    trail = lists.audit()
    assert [(r.action, r.actor, r.value, r.reason) for r in trail] == [
        ("add", "ann", "c-1", "chargebacks"),
        ("add", "ann", "c-2", ""),
        ("expire", "janitor", "c-1", "chargebacks"),
        ("remove", "bob", "c-2", "paid back"),
    ]
    assert trail[0].expires_at == datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert [r.action for r in lists.audit(subject="customer", value="c-2")] == ["add", "remove"]
    assert [r.id for r in lists.audit(after=trail[1].id)] == [trail[2].id, trail[3].id]


def test_adding_again_replaces_reason_and_expiry(finplug_tenant: FinplugTenant) -> None:
    clock = Clock()
    _, lists = _lists(finplug_tenant, clock)
    lists.add("block", "merchant", "m-1", actor="ann", ttl=timedelta(hours=1))
    later = clock.now + timedelta(days=30)
    entry = lists.add(
        "block", "merchant", "m-1", actor="bob", reason="fraud ring", expires_at=later
    )
    assert entry.expires_at == later
    [stored] = lists.entries("block", "merchant")
    assert (stored.added_by, stored.reason, stored.expires_at) == ("bob", "fraud ring", later)
    assert len(lists.audit()) == 2


@pytest.mark.parametrize(
    ("subject", "value", "message"),
    [
        ("country", "DEU", "alpha-2"),
        ("ip", "300.1.1.1", "not an IPv4 or IPv6 address"),
        ("email_domain", "nodot", "not a domain name"),
        ("email_domain", "bad_label.com", "not a domain name"),
        ("customer", "", "must not be empty"),
        ("customer", "x" * 257, "at most 256"),
        ("planet", "earth", "unknown subject 'planet'"),
    ],
)
def test_bad_values_are_refused_with_the_field(subject: str, value: str, message: str) -> None:
    with pytest.raises(ListError, match=message):
        normalize(subject, value)


def test_bad_requests_write_nothing(finplug_tenant: FinplugTenant) -> None:
    _, lists = _lists(finplug_tenant, Clock())
    with pytest.raises(ListError, match="list: expected 'block' or 'allow'"):
        lists.add("deny", "customer", "c-1", actor="ann")
    with pytest.raises(ListError, match="timezone-aware"):
        lists.add("block", "customer", "c-1", actor="ann", expires_at=datetime(2027, 1, 1))
    with pytest.raises(ListError, match="not both"):
        lists.add(
            "block",
            "customer",
            "c-1",
            actor="ann",
            ttl=timedelta(days=1),
            expires_at=datetime(2027, 1, 1, tzinfo=UTC),
        )
    with pytest.raises(ListError, match="actor: must not be empty"):
        lists.add("block", "customer", "c-1", actor="")
    assert lists.entries(include_expired=True) == []
    assert lists.audit() == []


@given(st.sampled_from(["de", "De", " DE", "dE "]))
def test_country_spellings_are_one_entry(spelling: str) -> None:
    assert normalize("country", spelling) == "DE"
