"""Typed, versioned result records: what they write, what they read back, what they refuse."""

import json

import numpy as np
import pytest

from gapkit.errors import GapkitError
from gapkit.records import CellResult, EvalRecord, RunRecord, read_record, write_record
from gapkit.stats import measure
from gapkit.stats.report import GapReport

RUN = {
    "task": "ve",
    "split": "val",
    "metrics": {"accuracy": 34.0, "n": 6},
    "history": [{"epoch": 1, "loss": 1.1}],
    "noise": 0.08,
    "noise_norm": 1.81,
    "dim": 512,
    "n_train": 60,
    "adapter": {"adapter": "noise"},
    "resolved": {"epochs": 1},
    "per_item": {"accuracy": [1.0, 0.0]},
    "provenance": {"git": "abc"},
}


def test_a_record_round_trips_with_its_schema_and_version(tmp_path):
    rec = RunRecord(**RUN)
    write_record(tmp_path / "metrics.json", rec)
    raw = json.loads((tmp_path / "metrics.json").read_text())
    assert (raw["schema"], raw["schema_version"]) == ("gapkit.run", RunRecord.CURRENT)
    assert read_record(tmp_path / "metrics.json", RunRecord) == rec


def test_unstamped_files_read_as_version_0(tmp_path):
    """Files written before records carried a version (the committed results) still load."""
    (tmp_path / "old.json").write_text(json.dumps(RUN))
    assert read_record(tmp_path / "old.json", RunRecord) == RunRecord(**RUN)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"schema_version": 99}, "schema version 99 .* newer gapkit"),
        ({"schema_version": "1"}, "schema version '1'"),
        ({"schema": "gapkit.cell"}, "a 'gapkit.cell' record, expected 'gapkit.run'"),
        ({"surprise": 1}, "unknown field 'surprise'"),
    ],
)
def test_other_versions_kinds_and_fields_are_refused_by_name(tmp_path, change, message):
    (tmp_path / "r.json").write_text(json.dumps({**RUN, **change}))
    with pytest.raises(GapkitError, match=message):
        read_record(tmp_path / "r.json", RunRecord)


def test_missing_fields_and_broken_files_are_named(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({k: v for k, v in RUN.items() if k != "dim"}))
    with pytest.raises(GapkitError, match="field 'dim' missing"):
        read_record(tmp_path / "r.json", RunRecord)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(GapkitError, match="not valid JSON"):
        read_record(tmp_path / "bad.json", RunRecord)
    with pytest.raises(GapkitError, match="record not found"):
        read_record(tmp_path / "nope.json", EvalRecord)


def test_a_cell_result_carries_its_runs_record():
    cell = CellResult.from_run("k1", "none/ve", {"task": "ve"}, RunRecord(**RUN))
    assert (cell.key, cell.label, cell.metrics) == ("k1", "none/ve", RUN["metrics"])
    assert cell.per_item == RUN["per_item"] and cell.resolved == RUN["resolved"]
    assert cell.converted_from is None and CellResult.from_dict(cell.to_dict()) == cell


def test_a_measure_report_round_trips(rng):
    x, y = rng.standard_normal((40, 8)), rng.standard_normal((40, 8))
    report = measure(x, y, bootstrap=20, separability=False, decomposition=False)
    d = json.loads(json.dumps(report.to_dict()))
    back = GapReport.from_dict(d)
    assert back.stats == report.stats and np.allclose(back.gap_vector, report.gap_vector)
    assert np.allclose(back.image_centroid, report.image_centroid)
    with pytest.raises(GapkitError, match="expected 'gapkit.measure'"):
        GapReport.from_dict({**d, "schema_version": 7})


def test_newer_records_are_not_overwritten_by_a_rerun(tmp_path):
    """A grid must stop at a cell result from a newer gapkit instead of running the cell again and
    overwriting it; an unreadable file of this gapkit's own is run again."""
    from gapkit.ablate.runner import _read_result
    from gapkit.records import NewerRecordError

    cell = CellResult.from_run("k1", "none/ve", {"task": "ve"}, RunRecord(**RUN)).to_dict()
    (tmp_path / "newer.json").write_text(json.dumps({**cell, "schema_version": 2}))
    with pytest.raises(NewerRecordError):
        _read_result(tmp_path / "newer.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    assert _read_result(tmp_path / "list.json") is None


def test_gapkit_0_1_run_records_without_resolved_still_read(tmp_path):
    (tmp_path / "old.json").write_text(json.dumps({k: v for k, v in RUN.items() if k != "resolved"}))
    assert read_record(tmp_path / "old.json", RunRecord).resolved == {}


def test_a_measure_report_without_intervals_reads_back_as_nan(rng):
    from gapkit.io import dumps_json

    x, y = rng.standard_normal((40, 8)), rng.standard_normal((40, 8))
    report = measure(x, y, bootstrap=0, separability=False, decomposition=False)
    back = GapReport.from_dict(json.loads(dumps_json(report.to_dict())))  # NaN is written as null
    assert np.isnan(back.stats["paired_cosine"].lo) and back.stats["paired_cosine"].fmt()
    with pytest.raises(GapkitError, match="expected a JSON object"):
        GapReport.from_dict([1])
