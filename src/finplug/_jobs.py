"""Per-tenant jobs: collect what plugins register, run the due ones, each in isolation.

Host layer (``finplug jobs run`` calls it; so may a worker). A job's last
success is kept in a small JSON state file, so "due" survives between runs;
many processes sharing one job list is not solved here.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from finplug._platform import Platform
from finplug._plugin import PROJECT
from finplug._runtime import Tenant
from finplug._time import utc_now
from finplug.hookspecs import JobFunction

__all__ = ["Job", "JobResult", "JobState", "one_line", "run_jobs", "tenant_jobs"]

_HOOK = "finplug_register_jobs"


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line (newlines and runs of spaces become one space), cut to ``limit``."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Job:
    """One job a plugin registered for one tenant."""

    tenant: str
    name: str
    plugin: str
    function: JobFunction
    every: timedelta | None = None


@dataclass(frozen=True, slots=True)
class JobResult:
    """What running one job (or listing a plugin's jobs) did for one tenant."""

    tenant: str
    job: str
    ok: bool
    summary: str = ""

    def __str__(self) -> str:
        """``tenant job: ok|FAILED summary`` on one line."""
        status = "ok" if self.ok else "FAILED"
        return one_line(f"{self.tenant} {self.job}: {status} {self.summary}".rstrip())


def tenant_jobs(tenant: Tenant) -> tuple[list[Job], list[JobResult]]:
    """The tenant's jobs, and one failed result per plugin whose registration failed.

    Each plugin's ``finplug_register_jobs`` is called on its own (failure
    policy: report), with a ``register`` that checks the job's name.
    """
    jobs: dict[str, Job] = {}
    failures: list[JobResult] = []
    for plugin in tenant.plugins():
        impl = getattr(plugin, _HOOK, None)
        if impl is None or getattr(impl, f"{PROJECT}_impl", None) is None:
            continue
        name = type(plugin).meta.name
        found: dict[str, Job] = {}

        def register(
            job: str,
            function: JobFunction,
            *,
            every: timedelta | None = None,
            _plugin: str = name,
            _found: dict[str, Job] = found,
        ) -> None:
            if not job.startswith(f"{_plugin}.") or job == f"{_plugin}.":
                raise ValueError(f"job {job!r} must be named {_plugin!r} + '.' + a name")
            if job in jobs or job in _found:
                raise ValueError(f"job {job!r} is registered twice")
            if not callable(function):
                raise TypeError(f"job {job!r}: function must be callable, got {function!r}")
            if every is not None and every <= timedelta(0):
                raise ValueError(f"job {job!r}: every must be positive, got {every}")
            _found[job] = Job(tenant.id, job, _plugin, function, every)

        try:
            impl(register=register)
        except Exception as exc:
            failures.append(
                JobResult(tenant.id, f"{name}.*", False, f"{_HOOK} raised {_describe(exc)}")
            )
            continue
        jobs.update(found)
    return list(jobs.values()), failures


def _describe(exc: BaseException) -> str:
    return one_line(f"{type(exc).__name__}: {exc}")


class JobState:
    """When each job last succeeded, kept in a JSON file (``None``: in memory only)."""

    def __init__(self, path: Path | None = None) -> None:
        """Read ``path`` if it exists; an unreadable file starts empty (every job due)."""
        self.path = path
        self._last: dict[str, dict[str, str]] = {}
        if path is not None and path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}
            if isinstance(data, dict):
                self._last = {
                    t: {j: s for j, s in jobs.items() if isinstance(s, str)}
                    for t, jobs in data.items()
                    if isinstance(jobs, dict)
                }

    def last_success(self, tenant: str, job: str) -> datetime | None:
        """When ``job`` last succeeded for ``tenant``, if ever."""
        stamp = self._last.get(tenant, {}).get(job)
        try:
            return datetime.fromisoformat(stamp) if stamp else None
        except ValueError:
            return None

    def is_due(self, job: Job, now: datetime) -> bool:
        """No interval, never succeeded, or last success at least ``every`` ago."""
        last = self.last_success(job.tenant, job.name)
        return job.every is None or last is None or now - last >= job.every

    def succeeded(self, tenant: str, job: str, at: datetime) -> None:
        """Record a success (saved by :meth:`save`)."""
        self._last.setdefault(tenant, {})[job] = at.isoformat()

    def save(self) -> None:
        """Write the file atomically (nothing to do in memory)."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".jobs-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self._last, f, indent=2, sort_keys=True)
        Path(tmp).replace(self.path)


def run_jobs(
    platform: Platform,
    tenant_ids: Iterable[str],
    job: str | None = None,
    *,
    state: JobState | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> list[JobResult]:
    """Run once, for each tenant, its due jobs (or only ``job``, due or not).

    Each job and each tenant is isolated: an exception becomes a failed
    :class:`JobResult` and the others run. A tenant without the named job is
    skipped. Successes are recorded in ``state`` (saved at the end).
    """
    state = state if state is not None else JobState()
    results: list[JobResult] = []
    try:
        for tenant_id in tenant_ids:
            try:
                tenant = platform.tenant(tenant_id)
                jobs, failures = tenant_jobs(tenant)
            except Exception as exc:
                results.append(JobResult(tenant_id, job or "*", False, _describe(exc)))
                continue
            results.extend(failures)
            for item in jobs:
                if job is not None and item.name != job:
                    continue
                if job is None and not state.is_due(item, clock()):
                    continue
                started = clock()
                try:
                    summary = item.function()
                except Exception as exc:
                    results.append(JobResult(tenant_id, item.name, False, _describe(exc)))
                    continue
                state.succeeded(tenant_id, item.name, started)
                results.append(JobResult(tenant_id, item.name, True, one_line(summary or "")))
    finally:
        state.save()
    return results
