"""Ablation grids: declarative specs -> independent cells -> executors -> tables and figures."""

from .executors import EXECUTORS, create_executor
from .runner import run_grid
from .spec import load_spec
from .tables import TABLES

__all__ = ["EXECUTORS", "TABLES", "create_executor", "load_spec", "run_grid"]
