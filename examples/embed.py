"""Embedding finplug in a host application: discover, load tenants, call components and hooks.

Run from the repository root: ``python examples/embed.py``.
"""

from __future__ import annotations

from pathlib import Path

from finplug import ComponentNotEnabledError, Money, Platform
from finplug.sockets.fees import FeeContext, fee_hooks
from finplug.sockets.risk import RISK, RiskContext, assess_risk

TENANTS = Path(__file__).parent / "tenants"


def main() -> list[str]:
    """Run one payment's risk check and fee quote for every example tenant; return the lines."""
    platform = Platform.discover()
    lines = []
    for tenant_id in platform.load_tenants(TENANTS):
        platform.upgrade(tenant_id)  # a host migrates each tenant's storage before serving it
        tenant = platform.tenant(tenant_id)
        amount = Money("4800.00", "EUR")
        risk_context = RiskContext("payment.authorize", amount, country="FR")
        try:
            decision = tenant.component(RISK).assess(risk_context)
        except ComponentNotEnabledError:
            # No risk component: the socket's rule is that no decision means approve.
            decision = assess_risk(tenant.hooks, risk_context)
        fee_context = FeeContext("capture", amount, payment_method="card")
        fees = [
            f
            for batch in fee_hooks.of(tenant.hooks).finplug_calculate_fees(context=fee_context)
            for f in batch
        ]
        total = sum((fee.amount for fee in fees), Money.zero(amount.currency))
        lines.append(f"{tenant_id}: risk={decision.verdict.name.lower()} fees={total}")
    return lines


if __name__ == "__main__":
    for line in main():
        print(line)
