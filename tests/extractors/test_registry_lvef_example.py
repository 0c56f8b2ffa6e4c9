"""The extension walk-through, tested: the example LVEF extractor in examples/lvef_extractor.

Nothing is pip-installed: one test loads the example's class directly; the other registers
its entry points at run time through a throwaway ``*.dist-info`` folder on ``sys.path``,
which is exactly what ``pip install`` would write, and builds the pipeline by name.
"""

import importlib
from pathlib import Path
from typing import Any

import pytest

from extractors.base import Extractor
from extractors.nlp import NlpSettings, build_nlp, extract
from extractors.registry import RegistryError, available_extractors, describe_extractors
from schemas.model import Note

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lvef_extractor"


@pytest.fixture
def example_on_path(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    module = importlib.import_module("notestruct_lvef.extractor")
    yield module


def _register(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str = "lvef") -> None:
    dist = tmp_path / "notestruct_lvef_dynamic-1.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: notestruct-lvef-dynamic\nVersion: 1.0.0\n"
    )
    (dist / "entry_points.txt").write_text(
        f"[notestruct.extractors]\n{name} = notestruct_lvef.extractor:LvefExtractor\n\n"
        "[spacy_factories]\nns_lvef = notestruct_lvef.extractor:make_lvef_tagger\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()


CASES = [
    ("Echo: LVEF 35%.", "LVEF 35%", {"value": 35}),
    ("Ejection fraction of 55-60%.", "Ejection fraction of 55-60%", {"value_low": 55,
                                                                      "value_high": 60}),
    ("EF estimated at 20 to 25 %.", "EF estimated at 20 to 25 %", {"value_low": 20}),
    ("The LVEF was visually estimated at >55%.", "LVEF was visually estimated at >55%",
     {"comparator": ">"}),
]  # fmt: skip


def test_class_loaded_directly(example_on_path: Any) -> None:
    cls = example_on_path.LvefExtractor
    assert isinstance(cls(), Extractor)
    assert cls.labels == frozenset({"LAB"})


@pytest.mark.parametrize(("sentence", "text", "expected"), CASES)
def test_runs_in_build_nlp_from_a_dynamic_entry_point(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    example_on_path: Any,
    sentence: str,
    text: str,
    expected: dict[str, Any],
) -> None:
    _register(tmp_path, monkeypatch)
    assert "lvef" in available_extractors()
    row = next(r for r in describe_extractors() if r["name"] == "lvef")
    assert row["distribution"] == "notestruct-lvef-dynamic"
    nlp = build_nlp(NlpSettings(extractors=("lvef",), abbreviations=False))
    note = Note(note_id="e", text=sentence)
    [(_, mentions)] = list(extract(nlp, [(note, ())]))
    assert not isinstance(mentions, Exception)
    [m] = mentions
    assert (m.label, m.text, m.provenance.extractor) == ("LAB", text, "lvef")
    assert sentence[m.start_char : m.end_char] == m.text
    assert [c.code for c in m.codings] == ["10230-1"]
    for key, value in expected.items():
        assert m.attributes[key] == value


def test_not_listed_means_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, example_on_path: Any
) -> None:
    _register(tmp_path, monkeypatch)
    nlp = build_nlp(NlpSettings(extractors=("labs",), abbreviations=False))
    assert "ns_lvef" not in nlp.pipe_names


def test_duplicate_name_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, example_on_path: Any
) -> None:
    _register(tmp_path, monkeypatch, name="labs")  # clashes with the built-in "labs"
    with pytest.raises(RegistryError, match="labs"):
        available_extractors()


def test_implausible_value_rejected(example_on_path: Any) -> None:
    import spacy

    from extractors.extensions import register_extensions

    register_extensions()
    nlp = spacy.blank("en")
    nlp.add_pipe("ns_lvef")
    assert list(nlp("EF 150%.").spans["mentions"]) == []
