"""spaCy components, rules, terminology and coders that turn note text into mentions."""

import importlib
import importlib.util
import sys
import types
from typing import Any


class _Deferred(types.ModuleType):
    """Stands in for a module until one of its attributes is used, then imports it."""

    def __getattr__(self, name: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        return getattr(real, name)


def _defer_nltk() -> None:
    """Make ``import nltk`` free until something uses it.

    medspaCy imports QuickUMLS at import time (``medspacy.util``), and QuickUMLS imports NLTK,
    which imports SciPy: about 2-4 s of every start-up, for a component notestruct never
    builds (only ``QuickUMLS(...)`` touches ``nltk``). A stand-in module defers that cost to
    the first use of an attribute, which imports the real NLTK then; a program that uses
    NLTK gets the real module. (``importlib.util.LazyLoader`` does not help: the ``import``
    statement reads ``__spec__``, which loads the module at once.)
    """
    if "nltk" in sys.modules:
        return
    spec = importlib.util.find_spec("nltk")
    if spec is None:
        return
    stand_in = _Deferred("nltk")
    stand_in.__spec__ = None
    sys.modules["nltk"] = stand_in


_defer_nltk()
