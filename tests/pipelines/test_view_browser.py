"""The viewer, the error browser and ``eval --gold`` end to end: the CLI writes the pages,
headless Chromium (Debian's /usr/bin/chromium driven by Playwright) opens them.

The browser tests skip with a reason only where Chromium is missing and CI is not set;
in CI (``CI=true``, set by .ci/run, which installs chromium) they must run.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.pipelines.test_cli import run_cli

REPO = Path(__file__).parents[2]
GOLD = REPO / "tests" / "data" / "gold"
CHROMIUM = os.environ.get("NOTESTRUCT_CHROMIUM", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The viewer page of the two gold notes and the error browser, written by the CLI."""
    tmp = tmp_path_factory.mktemp("pages")
    notes = tmp / "notes.jsonl"
    with notes.open("w") as fh:
        for line in (GOLD / "gold.jsonl").read_text().splitlines():
            rec = json.loads(line) if line.startswith('{"id": "g') else None
            if rec and rec["id"] in {"g1", "g2"}:
                fh.write(json.dumps({"id": rec["id"], "text": rec["text"]}) + "\n")
    home = tmp / "home"
    view = run_cli("view", str(notes), "-o", str(tmp / "view.html"), cwd=tmp, home=home)
    assert view.returncode == 0, view.stderr
    ev = run_cli(
        "eval", "--gold", str(GOLD / "gold.jsonl"), "--json", "--html", str(tmp / "errors.html"),
        cwd=tmp, home=home,
    )  # fmt: skip
    assert ev.returncode == 0, ev.stderr
    return {"dir": tmp, "view": view, "eval": ev}


def test_view_cli_writes_the_page_and_warns_on_the_console(pages):
    view = pages["view"]
    assert "wrote" in view.stdout and "2 notes" in view.stdout
    assert "contains note text" in view.stderr
    page = (pages["dir"] / "view.html").read_text()
    assert page.count('class="head m L-') >= 6


def test_eval_gold_json_scores_and_reports_each_problem(pages):
    ev = pages["eval"]
    report = json.loads(ev.stdout)
    assert report["notes"] == 3
    problem = report["labels"]["PROBLEM"]
    assert problem["n_gold"] == 8
    assert 0 < problem["overlap"]["recall"] < 1  # 'stable' is not a problem: a miss
    assert {"negated", "uncertain", "family"} <= set(report["assertion"])
    assert report["assertion"]["negated"]["tp"] >= 2
    route = [a for a in report["attributes"] if a["key"] == "route"]
    assert route and route[0]["n"] == 1
    problems = [line for line in ev.stderr.splitlines() if line.startswith("gold problem")]
    assert len(problems) == 4
    assert any("invalid JSON" in p for p in problems)
    assert any("outside the text" in p for p in problems)
    assert any("text does not match" in p for p in problems)
    assert any("unknown label 'SYMPTOM'" in p for p in problems)
    assert "contains note text" in ev.stderr
    # the JSON carries offsets, not note text
    assert "chest pain" not in ev.stdout


def test_review_export_and_import_round_trip_through_the_cli(tmp_path):
    home = tmp_path / "home"
    note = tmp_path / "note1.txt"
    note.write_text("ASSESSMENT:\nNo fever. Hypertension, on lisinopril 10 mg daily.\n")
    ls = run_cli("review", "export", str(note), "-o", str(tmp_path / "tasks.json"),
                 cwd=tmp_path, home=home)  # fmt: skip
    assert ls.returncode == 0, ls.stderr
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    assert tasks[0]["data"]["note_id"] == "note1"
    assert (tmp_path / "tasks.config.xml").exists()
    # the reviewer accepts every prediction
    export = [{"id": 1, "data": tasks[0]["data"],
               "annotations": [{"result": tasks[0]["predictions"][0]["result"]}]}]  # fmt: skip
    (tmp_path / "export.json").write_text(json.dumps(export))
    back = run_cli("review", "import", str(tmp_path / "export.json"), "-o",
                   str(tmp_path / "gold.jsonl"), cwd=tmp_path, home=home)  # fmt: skip
    assert back.returncode == 0, back.stderr
    brat = run_cli("review", "export", str(note), "--format", "brat", "-o",
                   str(tmp_path / "brat"), cwd=tmp_path, home=home)  # fmt: skip
    assert brat.returncode == 0, brat.stderr
    for gold in (tmp_path / "gold.jsonl", tmp_path / "brat"):
        ev = run_cli("eval", "--gold", str(gold), "--json", cwd=tmp_path, home=home)
        assert ev.returncode == 0, ev.stderr
        report = json.loads(ev.stdout)
        # the pipeline's own output, accepted as gold, scores perfectly
        assert report["all"]["exact"]["f1"] == 1.0, gold
        assert report["assertion"]["negated"]["f1"] == 1.0, gold


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is required in CI (.ci/run installs Debian's chromium)")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            viewport={"width": 1300, "height": 900},
        )
        # nothing may leave the machine: any non-file request fails the test below
        context.requests = []  # type: ignore[attr-defined]
        context.on("request", lambda r: context.requests.append(r.url))  # type: ignore[attr-defined]
        try:
            yield context
        finally:
            context.close()


def test_viewer_in_chromium_highlights_filters_and_explains(pages, browser, tmp_path):
    page = browser.new_page()
    console = []
    page.on("console", lambda m: console.append((m.type, m.text)))
    page.goto((pages["dir"] / "view.html").as_uri())
    report = json.loads(pages["eval"].stdout)
    heads = page.locator("mark.head")
    total = heads.count()
    items = page.locator("li.mi")
    assert total == items.count() >= 6
    assert page.locator("#count").inner_text() == f"{total} of {total} mentions shown"
    # g1: "denies chest pain" is drawn with a negated badge
    chest = page.locator("mark.head", has_text="chest pain").first
    assert chest.locator(".badge").inner_text() == "negated"
    # sections are shaded and named
    assert page.locator('section[data-section="medications"] .sec-name').inner_text() == (
        "medications"
    )
    # click: codes, attributes and the rule appear in the details panel
    page.locator("mark.head", has_text="Metformin").first.click()
    details = page.locator("#details").inner_text()
    assert "MEDICATION" in details and "extractor" in details and "rule" in details
    assert "route" in details and "PO" in details
    # filter: hide negated mentions; everything else stays
    negated = page.locator('mark.head[data-flags~="negated"]').count()
    assert negated >= 2
    page.locator('input.f-assert[value="negated"]').uncheck()
    visible = page.locator("mark.head:not(.off)").count()
    assert visible == total - negated
    assert page.locator('mark.head.off[data-flags~="negated"]').count() == negated
    assert not chest.locator(".badge").is_visible()
    assert page.locator("li.mi:visible").count() == visible
    # filter by label: only MEDICATION left
    page.locator('input.f-assert[value="negated"]').check()
    for box in page.locator("input.f-label").all():
        if box.get_attribute("value") != "MEDICATION":
            box.uncheck()
    meds = page.locator('mark.head[data-label="MEDICATION"]').count()
    assert page.locator("mark.head:not(.off)").count() == meds >= 1
    assert page.locator("#count").inner_text() == f"{meds} of {total} mentions shown"
    shot = tmp_path / "view.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert ("warning", "notestruct: this page contains note text; treat it as patient data.") in (
        console
    )
    assert all(u.startswith("file://") for u in browser.requests)
    assert report  # the eval of the same notes ran too


def test_error_browser_in_chromium_shows_errors_in_context(pages, browser, tmp_path):
    page = browser.new_page()
    page.goto((pages["dir"] / "errors.html").as_uri())
    report = json.loads(pages["eval"].stdout)
    kinds = {k: sum(e["kind"] == k for e in report["errors"])
             for k in ("false_positive", "miss", "assertion")}  # fmt: skip
    for kind, n in kinds.items():
        assert page.locator(f'li.err-item[data-kind="{kind}"]').count() == n
    miss = page.locator('li.err-item[data-kind="miss"] mark.miss', has_text="stable")
    assert miss.count() == 1
    assert page.locator("table.scores tr").count() == 1 + len(report["labels"])
    page.screenshot(path=str(tmp_path / "errors.png"), full_page=True)
    assert (tmp_path / "errors.png").stat().st_size > 5_000
    assert all(u.startswith("file://") for u in browser.requests)
