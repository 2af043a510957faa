"""`rig replay`: the live pipeline over recordings, scored against the shared ground truth."""
import csv
import gzip
from pathlib import Path

import pytest

from bench.score_events import read_events, score
from rig.replay import main, replay

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gait"
needs_data = pytest.mark.skipif(not (DATA / "GaCo01_01.csv.gz").exists(), reason="shared gait data absent")
HEADER = "t_s,harness_n,deck_fl_n,deck_fr_n,deck_rl_n,deck_rr_n,belt_mps"


@needs_data
def test_replay_finds_the_true_events(tmp_path):
    truth, found = [], []
    for i, rec in enumerate(sorted(DATA.glob("*.csv.gz"))):
        out = tmp_path / f"{rec.name}.events.csv"
        summary = replay(rec, out)
        offset = 1000.0 * i
        truth += [(t + offset, k, s) for t, k, s, _ in read_events(DATA / rec.name.replace(".csv.gz", ".truth.csv"))]
        found += [(t + offset, k, s, d + offset) for t, k, s, d in read_events(out)]
        assert 85 < summary["cadence_steps_per_min"] < 125
        assert summary["bad_samples"] == 0
    pooled = score(truth, found)
    hs, to = pooled["heel_strike"], pooled["toe_off"]
    # regression guards just under the measured figures (HS 99.62 / 99.62 %, latency p95 34.3 ms;
    # TO 99.24 / 99.36 %, p95 8.8 ms)
    assert hs["recall_pct"] > 99.5 and hs["precision_pct"] > 99.5
    assert to["recall_pct"] > 99 and to["precision_pct"] > 99.2
    assert hs["abs_err_median_ms"] < 4 and hs["abs_err_p95_ms"] < 6 and hs["latency_p95_ms"] < 36
    assert to["abs_err_median_ms"] < 6 and to["abs_err_p95_ms"] < 10 and to["latency_p95_ms"] < 55


@needs_data
def test_events_file_format(tmp_path):
    out = tmp_path / "e.csv"
    assert main([str(DATA / "GaCo04_01.csv.gz"), "--events-out", str(out)]) == 0
    rows = list(csv.DictReader(open(out)))
    assert list(rows[0]) == ["t_s", "event", "side", "detected_at_s"]
    assert {r["event"] for r in rows} == {"heel_strike", "toe_off"}
    assert {r["side"] for r in rows} == {"left", "right"}
    assert all(float(r["detected_at_s"]) >= float(r["t_s"]) for r in rows)


@pytest.mark.parametrize("body,expect", [
    ("0.0,1,2,3,4,5,1\n0.001,1,2,x,4,5,1\n", ":3: deck_fr_n = 'x' is not a number"),
    ("0.0,1,2,3,4,5,1\n0.0,1,2,3,4,5,1\n", ":3: t_s = 0.0 does not increase"),
    ("0.0,1,2,3,4,5\n", ":2: expected 7 fields, found 6"),
    ("", "no samples"),
])
def test_malformed_recording_names_the_line(tmp_path, capsys, body, expect):
    rec = tmp_path / "bad.csv"
    rec.write_text(HEADER + "\n" + body)
    assert main([str(rec), "--events-out", str(tmp_path / "e.csv")]) == 1
    assert expect in capsys.readouterr().err


def test_bad_header_and_gzip(tmp_path, capsys):
    rec = tmp_path / "bad.csv.gz"
    with gzip.open(rec, "wt") as handle:
        handle.write("time,a,b\n1,2,3\n")
    assert main([str(rec), "--events-out", str(tmp_path / "e.csv")]) == 1
    assert ":1: header must be" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.csv"), "--events-out", str(tmp_path / "e.csv")]) == 1


def test_config_sections_are_read(tmp_path, capsys):
    cfg = tmp_path / "rig.toml"
    cfg.write_text("[filters]\nlowpass_cutoff_hz = 900.0\nspike_filter = \"mean\"\n")
    rec = tmp_path / "r.csv"
    rec.write_text(HEADER + "\n0.0,1,2,3,4,5,1\n")
    assert main([str(rec), "--config", str(cfg), "--events-out", str(tmp_path / "e.csv")]) == 1
    err = capsys.readouterr().err
    assert "spike_filter" in err
