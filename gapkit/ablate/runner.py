"""Run a spec's grid with an executor and assemble its table from the cell result files."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from ..close.config import ADDED_KEYS
from ..errors import GapkitError
from ..progress import progress
from ..records import CellResult, NewerRecordError
from ..results import upgrade_metrics
from .executors import Attempt, CellJob, create_executor, first_line
from .legacy import upgrade_result
from .spec import Spec

log = logging.getLogger("gapkit.ablate")


def default_out(spec: Spec) -> Path:
    return spec.path.parent / "results" / spec.name


def jobs_for(spec: Spec, out: Path) -> list[CellJob]:
    """One job per distinct run: cells that are the same run (the images model shared by both
    captioning columns) share a job."""
    out = Path(out)
    jobs: dict[str, CellJob] = {}
    for c in spec.cells():
        if c.key not in jobs:
            jobs[c.key] = CellJob(
                c.key,
                f"{c.row}/{c.config.task}",
                c.config.to_dict(),
                str(out / "runs" / c.key),
                str(out / "cells" / f"{c.key}.json"),
            )
    return list(jobs.values())


def _read_result(path: Path) -> CellResult | None:
    """A cell result under the current schema (gapkit 0.1 files converted, see ``legacy``; config
    keys added since filled in at the value older results used; metric keys renamed), or None."""
    try:
        raw = json.loads(path.read_text())
        if not isinstance(raw, dict):
            raise GapkitError(f"expected a JSON object, got {type(raw).__name__}")
        raw = upgrade_result(raw)
        if isinstance(raw.get("config"), dict):
            raw["config"] = {**ADDED_KEYS, **raw["config"]}
        raw["metrics"] = upgrade_metrics(raw.get("metrics") or {})
        result = CellResult.from_dict(raw, str(path))
        _check_scores(result)
        return result
    except NewerRecordError:
        raise  # running the cell again would overwrite a newer gapkit's result
    except (ValueError, GapkitError) as e:
        log.warning("unreadable result %s (%s): the cell will run again", path, first_line(str(e)))
        return None


def _check_scores(result: CellResult) -> None:
    """The scores a table reads (the task's columns and ``n``) must be numbers where present: a
    string or null there is a damaged file (GapkitError: read as unreadable, the cell runs again).
    A column missing altogether stays "not recorded" (results written before it existed)."""
    from .tables import task_columns

    task = result.config.get("task") if isinstance(result.config, dict) else None
    if not isinstance(task, str):
        raise GapkitError(f"its config names no task ({task!r})")
    if not isinstance(result.metrics, dict) or not isinstance(result.per_item, dict):
        raise GapkitError("metrics and per_item must be JSON objects")
    for key in [k for k, _ in task_columns(task)] + ["n"]:
        if key in result.metrics and not _is_number(result.metrics[key]):
            raise GapkitError(f"metric {key!r} is {result.metrics[key]!r}, not a number")
        scores = result.per_item.get(key)
        if scores is not None and not (isinstance(scores, list) and all(_is_number(x) for x in scores)):
            raise GapkitError(f"the per-item scores of {key!r} are not a list of numbers")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load_results(spec: Spec, out: Path) -> dict[str, CellResult]:
    """Finished cells: key -> result. A result whose config differs from the cell's is ignored;
    metric keys are read under their current names; files written by gapkit 0.1 are converted
    (``legacy.upgrade_result``) and matched by their converted config, whatever their file name."""
    jobs = {j.key: j for j in jobs_for(spec, out)}
    done, unreadable = {}, set()
    for key, job in jobs.items():
        path = Path(job.result_path)
        res = _read_result(path) if path.is_file() else None
        if res is not None and res.config == job.config:
            done[key] = res
        elif res is None and path.is_file():
            unreadable.add(path)  # warned about once
    others = sorted(
        p for p in (Path(out) / "cells").glob("*.json") if p.stem not in done and p not in unreadable
    )
    for path in others if len(done) < len(jobs) else []:
        res = _read_result(path) if not path.stem.startswith(".") else None
        key = res.key if res is not None and res.converted_from else None
        if key in jobs and key not in done and res.config == jobs[key].config:
            done[key] = res
    return done


def regenerate_command(spec: Spec, out: Path) -> str:
    """The command that reruns this grid into ``out`` (``--out`` only when it is not the default)."""
    command = f"gapkit ablate {spec.path}"
    if Path(out).resolve() != default_out(spec).resolve():
        command += f" --out {out}"
    return command


class _Tally:
    """Progress over cells: one step per cell that finished or gave up; the postfix counts the cells
    that failed for good and the retries so far."""

    def __init__(self, bar) -> None:
        self.bar, self.failed, self.retried = bar, 0, 0

    def __call__(self, job: CellJob, result: Attempt, retry: bool) -> None:
        if retry:
            self.retried += 1
        else:
            self.bar.update(1)
            self.failed += result.error is not None
        self.bar.set_postfix(failed=self.failed, retried=self.retried)


def run_grid(
    spec: Spec,
    out: Path | None = None,
    executor: str = "local",
    jobs: int = 1,
    retries: int = 1,
    address: str | None = None,
    only_render: bool = False,
) -> dict:
    """Run every unfinished cell (nothing with ``only_render``). Returns {results, failed, missing,
    total, seconds, out}: ``failed`` maps each cell without a result whose last attempt (in this or an
    earlier invocation) failed to {label, error, permanent}; ``missing`` maps every cell without a
    result to its label."""
    out = Path(out) if out else default_out(spec)
    stale = spec.stale_weights()
    if stale and not only_render:
        raise GapkitError(stale)
    all_jobs = jobs_for(spec, out)
    done = load_results(spec, out)
    todo = [j for j in all_jobs if j.key not in done]
    log.info(
        "%s: %d cells, %d finished, %d to run (%s executor, %d jobs)",
        spec.name,
        len(all_jobs),
        len(done),
        len(todo),
        executor,
        jobs,
    )
    t0 = time.time()
    if todo and not only_render:
        bar = progress(total=len(todo), desc=spec.name, unit="cell")
        try:
            failed = create_executor(executor, jobs=jobs, retries=retries, address=address).run(
                todo, _Tally(bar)
            )
        finally:
            bar.close()
        _save_failures(out, {j.key for j in todo}, {j.key: j.label for j in todo}, failed)
        _log_invocation(out, len(todo), len(failed), time.time() - t0, executor, jobs)
    results = load_results(spec, out) if todo and not only_render else done
    failures = _load_failures(out)
    missing = [j for j in all_jobs if j.key not in results]
    return {
        "results": results,
        "failed": {j.key: failures[j.key] for j in missing if j.key in failures},
        "missing": {j.key: j.label for j in missing},
        "total": len(all_jobs),
        "seconds": time.time() - t0,
        "out": out,
    }


def _load_failures(out: Path) -> dict:
    path = out / "failures.json"
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        return {}


def _save_failures(out: Path, ran: set[str], labels: dict[str, str], failed: dict[str, Attempt]) -> None:
    """failures.json: the last failure of each cell still without a result, so ``--render-only``
    can say why. Cells run now replace their old entries."""
    from ..io import write_json

    entries = {k: v for k, v in _load_failures(out).items() if k not in ran}
    entries.update(
        {k: {"label": labels[k], "error": a.error, "permanent": a.permanent} for k, a in failed.items()}
    )
    if entries or (out / "failures.json").exists():
        write_json(out / "failures.json", entries)


def _log_invocation(out: Path, ran: int, failed: int, seconds: float, executor: str, jobs: int) -> None:
    """Append this run of the grid to grid-log.json (wall times add up across resumed runs)."""
    import datetime as dt

    from ..io import write_json

    path = out / "grid-log.json"
    entries = json.loads(path.read_text()) if path.is_file() else []
    entries.append(
        {
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "cells_run": ran,
            "failed": failed,
            "seconds": round(seconds, 1),
            "executor": executor,
            "jobs": jobs,
        }
    )
    write_json(path, entries)


def wall_seconds(out: Path) -> float | None:
    path = Path(out) / "grid-log.json"
    return sum(e["seconds"] for e in json.loads(path.read_text())) if path.is_file() else None


def incomplete_report(spec: Spec, outcome: dict) -> tuple[int, str] | None:
    """None when every cell has a result; else (exit code, one-line message): 2 when some cell
    failed with a configuration or data error (fix the spec), 1 otherwise (rerun to finish)."""
    missing, failed = outcome["missing"], outcome["failed"]
    if not missing:
        return None
    rerun = regenerate_command(spec, outcome["out"])
    config = [f for f in failed.values() if f["permanent"]]
    crashed = [f for f in failed.values() if not f["permanent"]]
    parts = [f"{len(missing)} of {outcome['total']} cells have no result (the table marks them)"]
    if config:
        parts.append(
            f"{len(config)} failed with a configuration or data error, e.g. {config[0]['label']}: "
            f"{first_line(config[0]['error'])} (fix the spec; rerunning will not help)"
        )
    if crashed:
        parts.append(
            f"{len(crashed)} failed, e.g. {crashed[0]['label']}: {first_line(crashed[0]['error'])} "
            f"(rerun `{rerun}` to retry them)"
        )
    not_run = len(missing) - len(config) - len(crashed)
    if not_run:
        parts.append(f"{not_run} not run yet (run `{rerun}` to finish them)")
    return (2 if config else 1), "; ".join(parts)
