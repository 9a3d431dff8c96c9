"""Streaming modality-gap statistics (numpy/scipy/sklearn only: no torch import)."""

from .engine import measure
from .report import GapReport, Stat
from .shift import Shift, random_direction, standard_shifts

__all__ = ["GapReport", "Shift", "Stat", "measure", "random_direction", "standard_shifts"]
