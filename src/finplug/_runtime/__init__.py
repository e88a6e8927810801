"""Assembling one tenant's runtime: plan (validate, order) then build (instantiate, register).

Planning is pure and cheap: it validates each enabled plugin's settings with
the plugin's model, checks requirements and component providers, and orders
plugins by dependencies and ``before``/``after``. Every problem it finds is a
located :class:`ConfigIssue`, so ``finplug check`` reports them with file and
line, and a tenant that plans cleanly cannot fail on these at call time.

Building creates a pluggy manager that holds only this tenant's plugin
instances. It adds the specs of the hooks those plugins implement (a hook no
plugin implements is answered by a shared empty caller), and registers each
plugin with the implementation table computed once at discovery, so that a
tenant costs a few dozen microseconds and a few kilobytes.

The names above are imported from this package; its modules have one job each:

* :mod:`~finplug._runtime.plan`: :class:`TenantPlan` and :func:`plan_tenant`, a config
  checked against the installed plugins and put in hook-call order;
* :mod:`~finplug._runtime.relay`: the hook call path, the tenant's pluggy manager (which
  names the failing plugin in a :class:`~finplug.HookCallError`), the relay behind
  ``tenant.hooks`` and :class:`HookView`;
* :mod:`~finplug._runtime.tenant`: :class:`Tenant` and :func:`build_tenant`, a plan's
  plugins instantiated and registered, its components looked up, its units of work.
"""

from __future__ import annotations

from finplug._runtime.plan import TenantPlan, plan_tenant
from finplug._runtime.relay import HookView, hook_implementations
from finplug._runtime.tenant import Tenant, build_tenant

__all__ = [
    "HookView",
    "Tenant",
    "TenantPlan",
    "build_tenant",
    "hook_implementations",
    "plan_tenant",
]
