"""The HTML report is one self-contained file with charts and the run history."""

import re

import pytest

from tests.warehouse.builders import build_story_warehouse
from warehouse.report import hbar_chart, line_chart, stacked_bar, write_report


def _report(url, tmp_path):
    engine = build_story_warehouse(url)
    try:
        data = write_report(engine, tmp_path / "r.html")
    finally:
        engine.dispose()
    page = (tmp_path / "r.html").read_text()
    assert page.count("<svg") >= 6
    for forbidden in ("<script", "src=", "@import", "url(", "<link", "<iframe"):
        assert forbidden not in page.lower()
    # the only URL is the SVG namespace, never fetched
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) == {"http://www.w3.org/2000/svg"}
    assert "Run history" in page and "r1"[:2] in page
    assert dict(data.mentions_by_label)["PROBLEM"] == 9
    assert dict(data.errors_by_stage) == {"nlp": 1}
    assert ("failed", 1) in data.notes_by_status
    # no note text: the synthetic notes' phrases that are not terminology displays
    assert "if chest pain" not in page
    return data


def test_report_sqlite(sqlite_url, tmp_path):
    _report(sqlite_url, tmp_path)


@pytest.mark.postgres
def test_report_postgres_same_figures(pg_url, sqlite_url, tmp_path):
    a = _report(pg_url, tmp_path)
    b = _report(sqlite_url, tmp_path)
    assert (a.mentions_by_label, a.assertion_mix, a.top_concepts) == (
        b.mentions_by_label, b.assertion_mix, b.top_concepts)


def test_charts_escape_labels_and_handle_empty_data():
    svg = hbar_chart("t", [("<b>&", 3)])
    assert "<b>" not in svg and "&lt;b&gt;&amp;" in svg
    assert "no data" in hbar_chart("t", [])
    assert "no mentions" in stacked_bar("t", [])
    assert "no runs yet" in line_chart("t", [], [])
    assert line_chart("t", ["#1", "#2"], [("a", [1.0, None])]).count("<circle") == 1
