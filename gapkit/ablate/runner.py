"""Run a spec's grid with an executor and assemble its table from the cell result files."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from ..errors import GapkitError
from ..progress import progress
from .executors import CellJob, create_executor
from .spec import Spec

log = logging.getLogger("gapkit.ablate")


def default_out(spec: Spec) -> Path:
    return spec.path.parent / "results" / spec.name


def jobs_for(spec: Spec, out: Path) -> list[CellJob]:
    return [CellJob(c.key, f"{c.row}/{c.task}", c.config.to_dict(), str(out / "runs" / c.key),
                    str(out / "cells" / f"{c.key}.json")) for c in spec.cells()]


def load_results(spec: Spec, out: Path) -> dict[str, dict]:
    """Finished cells: key -> result (a result whose config differs from the spec's is ignored)."""
    done = {}
    for job in jobs_for(spec, out):
        path = Path(job.result_path)
        if path.is_file():
            try:
                res = json.loads(path.read_text())
            except ValueError:
                log.warning("unreadable result %s: the cell will run again", path)
                continue
            if res.get("config") == job.config:
                done[job.key] = res
    return done


def run_grid(spec: Spec, out: Path | None = None, executor: str = "local", jobs: int = 1, retries: int = 1,
             address: str | None = None, only_render: bool = False) -> dict:
    """Run every unfinished cell, then render the table. Returns {results, failed, seconds}."""
    out = Path(out) if out else default_out(spec)
    all_jobs = jobs_for(spec, out)
    done = load_results(spec, out)
    todo = [j for j in all_jobs if j.key not in done]
    log.info("%s: %d cells, %d finished, %d to run (%s executor, %d jobs)", spec.name, len(all_jobs),
             len(done), len(todo), executor, jobs)
    failed: dict[str, str] = {}
    t0 = time.time()
    if todo and not only_render:
        bar = progress(total=len(todo), desc=spec.name, unit="cell")

        def tick(key, err):
            bar.update(1)
            bar.set_postfix(failed=len([1 for _ in [err] if err]))

        failed = create_executor(executor, jobs=jobs, retries=retries, address=address).run(todo, tick)
        bar.close()
    if todo and not only_render:
        _log_invocation(out, len(todo), len(failed), time.time() - t0, executor, jobs)
    results = load_results(spec, out)
    missing = [j.label for j in all_jobs if j.key not in results]
    if missing and not only_render:
        log.warning("%d cells did not finish: %s", len(missing), ", ".join(missing[:5]))
    return {"results": results, "failed": failed, "missing": missing, "seconds": time.time() - t0, "out": out}


def _log_invocation(out: Path, ran: int, failed: int, seconds: float, executor: str, jobs: int) -> None:
    """Append this run of the grid to grid-log.json (wall times add up across resumed runs)."""
    import datetime as dt

    from ..io import write_json

    path = out / "grid-log.json"
    entries = json.loads(path.read_text()) if path.is_file() else []
    entries.append({"finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "cells_run": ran, "failed": failed, "seconds": round(seconds, 1), "executor": executor,
                    "jobs": jobs})
    write_json(path, entries)


def wall_seconds(out: Path) -> float | None:
    path = Path(out) / "grid-log.json"
    return sum(e["seconds"] for e in json.loads(path.read_text())) if path.is_file() else None


def require_complete(spec: Spec, outcome: dict) -> None:
    if outcome["missing"]:
        raise GapkitError(f"{spec.path}: {len(outcome['missing'])} cells have no result "
                          f"(e.g. {outcome['missing'][0]}); rerun `gapkit ablate {spec.path}` to finish them.")
