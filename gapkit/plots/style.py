"""One figure style for every gapkit plot: readable at paper size, colour-blind-safe palette.
Applied with a context manager, so importing gapkit never changes matplotlib's global state."""

from __future__ import annotations

import contextlib
from pathlib import Path

RC = {
    "figure.dpi": 150,
    "savefig.dpi": 200,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.bbox": "tight",
}
COLUMN_WIDTH = 3.4  # inches, one column of a two-column paper


def palette(n: int = 8) -> list:
    import seaborn as sns

    return sns.color_palette("colorblind", n)


@contextlib.contextmanager
def paper_style():
    import matplotlib

    matplotlib.use("Agg", force=False) if matplotlib.get_backend().lower() != "agg" else None
    import matplotlib.pyplot as plt

    with plt.rc_context(RC):
        yield plt


def save(fig, path: str | Path, formats=("png", "pdf")) -> list[Path]:
    """Write ``fig`` as each format beside ``path`` (suffix replaced); returns the paths."""
    import matplotlib.pyplot as plt

    from ..io import atomic_file

    path = Path(path)
    out = []
    for ext in formats:
        target = path.with_suffix(f".{ext}")
        with atomic_file(target, "wb") as f:
            fig.savefig(f, format=ext)
        out.append(target)
    plt.close(fig)
    return out
