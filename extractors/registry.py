"""Discovery of extractors and coders through entry points (at build time, never at import)."""

from __future__ import annotations

from importlib.metadata import entry_points

from extractors.base import Coder, Extractor

EXTRACTOR_GROUP = "notestruct.extractors"
CODER_GROUP = "notestruct.coders"


class RegistryError(Exception):
    """An entry point is missing, broken, duplicated or does not satisfy its protocol."""


def _load_group(group: str) -> dict[str, type]:
    found: dict[str, type] = {}
    for ep in entry_points(group=group):
        if ep.name in found:
            raise RegistryError(f"two {group} entry points are named {ep.name!r}")
        try:
            found[ep.name] = ep.load()
        except Exception as exc:  # a broken plug-in must name itself, not crash obscurely
            raise RegistryError(
                f"{group} entry point {ep.name!r} ({ep.value}) failed to load: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    return found


def available_extractors() -> dict[str, type[Extractor]]:
    """All installed extractor classes by entry-point name, checked against the protocol."""
    classes = _load_group(EXTRACTOR_GROUP)
    for name, cls in classes.items():
        for attr in ("name", "version", "labels", "add_pipes"):
            if not hasattr(cls, attr):
                raise RegistryError(f"extractor {name!r} has no {attr!r}")
        if cls.name != name:
            raise RegistryError(f"extractor entry point {name!r} names class {cls.name!r}")
    return classes  # type: ignore[return-value]


def available_coders() -> dict[str, type[Coder]]:
    """All installed coder classes by entry-point name."""
    classes = _load_group(CODER_GROUP)
    for name, cls in classes.items():
        if not hasattr(cls, "code"):
            raise RegistryError(f"coder {name!r} has no code()")
    return classes  # type: ignore[return-value]


def select_extractors(names: list[str]) -> list[Extractor]:
    """Instantiate the named extractors in the given order; unknown names are an error."""
    classes = available_extractors()
    missing = [n for n in names if n not in classes]
    if missing:
        raise RegistryError(
            f"unknown extractor(s) {', '.join(missing)}; installed: {', '.join(sorted(classes))}"
        )
    return [classes[n]() for n in names]


def describe_extractors() -> list[dict[str, object]]:
    """Installed extractors for ``notestruct extractors list``: name, version, labels, origin.

    Returns:
        One dict per extractor, sorted by name, with ``name``, ``version``, ``labels``
        (sorted list), ``module`` (where the class lives), ``distribution`` and
        ``distribution_version`` (the installed package that declares the entry point).
    """
    rows: list[dict[str, object]] = []
    classes = available_extractors()
    for ep in entry_points(group=EXTRACTOR_GROUP):
        cls = classes[ep.name]
        dist = getattr(ep, "dist", None)
        rows.append(
            {
                "name": ep.name,
                "version": int(cls.version),
                "labels": sorted(cls.labels),
                "module": cls.__module__,
                "distribution": dist.name if dist is not None else None,
                "distribution_version": dist.version if dist is not None else None,
            }
        )
    return sorted(rows, key=lambda r: str(r["name"]))
