"""The pipeline cache (``pipelines.resources``): the collector is paused only while a pipeline
is built."""

import gc
import json

import pytest

from extractors.settings import NlpSettings
from pipelines import resources


def _failing_build(seen: list[bool]):
    def build_nlp(settings: NlpSettings):
        seen.append(gc.isenabled())
        raise RuntimeError("no pipeline")

    return build_nlp


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_paused_during_a_build_only(monkeypatch, enabled: bool) -> None:
    import extractors.nlp

    seen: list[bool] = []
    monkeypatch.setattr(extractors.nlp, "build_nlp", _failing_build(seen))
    payload = json.dumps(resources._payload(NlpSettings()), sort_keys=True)
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with pytest.raises(RuntimeError, match="no pipeline"):
            resources._build(f"test-{enabled}", payload)  # a key no other test builds
        assert seen == [False]  # paused while building
        assert gc.isenabled() is enabled  # and as it was afterwards, even on an error
    finally:
        (gc.enable if was else gc.disable)()


def test_import_frozen_imports_then_freezes_what_the_import_made() -> None:
    import sys

    sys.modules.pop("colorsys", None)  # a small module nothing else here imports
    frozen = gc.get_freeze_count()
    module = resources.import_frozen("colorsys")
    assert module is sys.modules["colorsys"] and module.rgb_to_hsv(1, 0, 0) == (0.0, 1.0, 1)
    assert gc.get_freeze_count() > frozen  # out of every later collection's walk
    assert gc.isenabled()
    assert resources.import_frozen("colorsys") is module  # imported once


def test_the_rules_version_follows_an_extractors_own_version(monkeypatch) -> None:
    """A change of an extractor's code bumps its VERSION; the rules version under which notes
    were read must change with it, or ``reprocess`` would not find the notes to re-run."""
    from extractors.labs import LabExtractor
    from extractors.nlp import build_nlp

    settings = NlpSettings(extractors=("labs",))
    nlp = build_nlp(settings)
    assert nlp.meta["notestruct"]["extractors"] == {"labs": LabExtractor.version}
    before = resources.rules_version(settings)
    resources._build.cache_clear()
    monkeypatch.setattr(LabExtractor, "version", LabExtractor.version + 1)
    try:
        assert resources.rules_version(settings) != before
    finally:
        resources._build.cache_clear()


def test_the_rules_version_follows_the_assertion_stages_version(monkeypatch) -> None:
    """The assertion stage's code (cue scopes) changes the facts too: its VERSION is part of
    the rules version."""
    import extractors.nlp as nlp_module

    settings = NlpSettings(extractors=("labs",))
    resources._build.cache_clear()
    before = resources.rules_version(settings)
    resources._build.cache_clear()
    monkeypatch.setattr(nlp_module, "ASSERTION_VERSION", nlp_module.ASSERTION_VERSION + 1)
    try:
        assert resources.rules_version(settings) != before
    finally:
        resources._build.cache_clear()
