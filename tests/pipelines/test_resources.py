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
