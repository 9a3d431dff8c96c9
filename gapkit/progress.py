"""Progress bars on stderr (tqdm), quiet when GAPKIT_NO_PROGRESS is set (tests, CI logs)."""

from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm


def progress(iterable=None, **kwargs):
    kwargs.setdefault("file", sys.stderr)
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("mininterval", 0.5)
    kwargs.setdefault("disable", bool(os.environ.get("GAPKIT_NO_PROGRESS")))
    return tqdm(iterable, **kwargs)
