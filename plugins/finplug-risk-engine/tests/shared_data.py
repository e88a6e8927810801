"""Where the third-party reference files are: ``../shared/data`` beside the checkout.

``FINPLUG_SHARED_DATA`` names the folder when it is elsewhere; otherwise the
folder beside the repository, then the workspace's own ``/work/shared/data``
(a clone checked out in a temporary folder has no sibling). Tests that read
it fail, never skip, when none of these exists.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ZEN_DATA", "shared_data"]

_REPOSITORY = Path(__file__).resolve().parents[3]


def shared_data() -> Path:
    """The reference data folder (the first candidate that exists, else the first one)."""
    named = os.environ.get("FINPLUG_SHARED_DATA")
    candidates = [Path(named)] if named else []
    candidates += [_REPOSITORY.parent / "shared" / "data", Path("/work/shared/data")]
    return next((c for c in candidates if c.is_dir()), candidates[0])


#: GoRules' JDM graphs (``zen/*.json``).
ZEN_DATA = shared_data() / "zen"
