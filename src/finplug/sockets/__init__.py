"""The sockets: one module per business domain, each its own versioned contract.

A socket holds a domain's values, its component interface, its hook specs,
its errors and its version; plugins name the sockets they plug into in
``PluginMeta.sockets`` and never import each other. The kernel core
(plugboard, storage, ledger, events, money) imports no socket; a test keeps
it so.

=====================================  ==========================================
socket                                 what it carries
=====================================  ==========================================
:mod:`finplug.sockets.payments`        aggregated payments, channels, routing
:mod:`finplug.sockets.risk`            risk decisions (default: approve)
:mod:`finplug.sockets.fees`            fees on money movements (none: no fees)
:mod:`finplug.sockets.settlement`      order splits, settlement runs, payouts (1.0)
:mod:`finplug.sockets.reconciliation`  statements matched against the ledger (0.1)
:mod:`finplug.sockets.billing`         subscriptions, usage, invoices (0.2)
=====================================  ==========================================
"""
