"""Example notestruct extractor package: left ventricular ejection fraction (LVEF)."""

from notestruct_lvef.extractor import LvefExtractor, make_lvef_tagger

__all__ = ["LvefExtractor", "make_lvef_tagger"]
