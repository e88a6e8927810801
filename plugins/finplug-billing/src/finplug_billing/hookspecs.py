"""The billing plugin's own hook: charge models other plugins add.

A plugin adds a charge model (a marketplace's take rate, a tiered seat
price with its own rules …) by implementing
:func:`finplug_billing_charge_models`, naming this module in its own
``PluginMeta.hookspecs`` (``hookspecs=("finplug_billing.hookspecs",)``).
The billing plugin declares it too, so the hook exists in every tenant that
enables ``billing``; the component calls it through :data:`billing_hooks`.
"""

from __future__ import annotations

from typing import Protocol

from finplug import HookFailurePolicy, HookView, failure_policy, hookspec
from finplug_billing.charges import ChargeModel

__all__ = ["BillingHooks", "billing_hooks", "finplug_billing_charge_models"]


@hookspec
@failure_policy(HookFailurePolicy.PROPAGATE)
def finplug_billing_charge_models() -> list[ChargeModel] | None:
    """Add charge models: what a plan's charge may name as its ``model``.

    Each model has a unique ``name``, a pydantic ``properties`` class (its
    configuration, checked when the catalog is first used) and
    ``price(usage, properties)``, returning an exact, unrounded
    :class:`~finplug_billing.charges.ChargeAmount` (see
    :class:`~finplug_billing.charges.ChargeModel`).

    Combination: collect all; the caller flattens the lists. The built-in
    models (standard, graduated, volume, package, percentage,
    graduated_percentage, dynamic) come first; a name offered twice, or
    clashing with a built-in, is an error when the catalog is first used.

    Nobody implements it: only the built-in models exist.

    Failure policy: propagate. The first use of the billing component fails
    with :class:`~finplug.HookCallError`: a catalog priced without one of its
    models would bill wrong amounts.

    Example::

        @hookimpl
        def finplug_billing_charge_models(self):
            return [TakeRateModel()]
    """


class _ModelsCaller(Protocol):
    def __call__(self) -> list[list[ChargeModel]]: ...


class BillingHooks(Protocol):
    """The callers of the billing plugin's hooks (``billing_hooks.of(hooks)``)."""

    finplug_billing_charge_models: _ModelsCaller
    """Calls every plugin's ``finplug_billing_charge_models``."""


#: The typed view of the billing hooks on a tenant's relay.
billing_hooks: HookView[BillingHooks] = HookView(__name__)
