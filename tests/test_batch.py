"""`newsflow process`: the stream's core over JSONL, with bad lines reported and never fatal."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import orjson

from streams.batch import BatchProcessor
from streams.config import Settings
from streams.pipeline import Pipeline

REPO = Path(__file__).resolve().parent.parent
SAMPLES = (REPO / "samples" / "articles.jsonl").read_bytes().splitlines()


def test_bad_lines_are_reported_with_line_numbers_and_the_run_goes_on():
    lines = [SAMPLES[0], b"{not json", b"", b'{"title": 5}', SAMPLES[15]]
    out, err = io.BytesIO(), io.StringIO()
    report = BatchProcessor(Pipeline(Settings())).run(iter(l + b"\n" for l in lines), out, err)
    records = [orjson.loads(l) for l in out.getvalue().splitlines()]
    assert [r["id"] for r in records] == ["sample-001", "sample-016"]
    assert records[1]["duplicate_of"] == "sample-001" and records[1]["duplicate_kind"] == "exact"
    reported = err.getvalue().splitlines()
    assert len(reported) == 2
    assert reported[0].startswith("line 2: malformed_json: ")
    assert reported[1] == "line 4: wrong_type: field 'title' must be a string, got int"
    assert report.to_dict()["rejected_by_reason"] == {"malformed_json": 1, "wrong_type": 1}
    assert report.enriched == 2 and report.lines == 4


def test_a_crash_in_the_core_is_reported_as_internal_error_not_raised(monkeypatch):
    processor = BatchProcessor(Pipeline(Settings()))
    monkeypatch.setattr(processor.pipeline, "analyse", lambda article: 1 / 0)
    out, err = io.BytesIO(), io.StringIO()
    report = processor.run(iter([SAMPLES[0]]), out, err)
    assert report.rejected == {"internal_error": 1}
    assert "ZeroDivisionError" in err.getvalue()


def test_the_command_reads_stdin_and_writes_stdout_with_a_summary_on_stderr():
    run = subprocess.run([sys.executable, "-m", "streams.cli", "process"], input=b"\n".join(SAMPLES[:3]),
                         capture_output=True, cwd=REPO, check=True)
    assert len(run.stdout.splitlines()) == 3
    assert orjson.loads(run.stderr.splitlines()[-1])["enriched"] == 3


def test_explain_flag_adds_the_classifier_evidence():
    run = subprocess.run([sys.executable, "-m", "streams.cli", "process", "--explain"], input=SAMPLES[3],
                         capture_output=True, cwd=REPO, check=True)
    record = orjson.loads(run.stdout)
    assert "recalls" in record["topics"]
    assert record["explain"]


def test_an_html_article_travels_and_publishes_as_its_extracted_text_not_its_markup():
    from streams.records import parse_raw

    page = ("<html><body><nav>Home | World | Sport</nav><article><h1>Dam bursts</h1><p>"
            + "Flood water reached the town centre on Tuesday, officials said. " * 20
            + "</p></article><footer>Copyright 2026 Example News</footer></body></html>")
    raw = orjson.dumps({"id": "h1", "title": "Dam bursts after heavy rain", "html": page})
    analysed = Pipeline(Settings()).analyse(parse_raw(raw, max_bytes=1 << 20))
    wire = analysed.to_wire()
    assert "html" not in wire["article"], "the markup does not cross the broker again after ingest"
    assert "Flood water reached the town centre" in wire["text"] and "<p>" not in wire["text"]
    out = io.BytesIO()
    BatchProcessor(Pipeline(Settings())).run(iter([raw]), out, io.StringIO())
    record = orjson.loads(out.getvalue())
    assert "html" not in record and record["text"] == wire["text"]


def test_files_that_cannot_be_read_are_named_in_a_usage_error_not_a_traceback(tmp_path):
    out = tmp_path / "never-created.jsonl"
    run = subprocess.run([sys.executable, "-m", "streams.cli", "process", "--input", str(tmp_path / "missing.jsonl"),
                          "--output", str(out)], capture_output=True, cwd=REPO)
    assert run.returncode == 2 and b"missing.jsonl" in run.stderr and b"Traceback" not in run.stderr
    assert not out.exists(), "a failed run leaves no empty output file behind"
    run = subprocess.run([sys.executable, "-m", "streams.cli", "explain"], input=b"\n".join(SAMPLES[:3]),
                         capture_output=True, cwd=REPO)
    assert run.returncode == 1 and b"explain reads one article" in run.stderr
