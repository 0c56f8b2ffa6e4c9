"""LLM tasks as data: prompt, JSON schema of the answer, labels, mode and version."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

#: What a task may do: add mentions, or re-decide the assertion of the rules' mentions.
MODES = ("extract", "adjudicate")


class TaskError(Exception):
    """A task file is missing or malformed."""


@dataclass(frozen=True)
class LlmTask:
    """One task: what is asked and how the answer must look."""

    name: str
    version: int
    mode: str
    prompt: str
    schema: Mapping[str, Any]
    labels: frozenset[str]

    def digest(self) -> str:
        """SHA-256 over name, version, mode, prompt, schema and labels (part of cache keys)."""
        payload = json.dumps(
            {
                "name": self.name,
                "version": self.version,
                "mode": self.mode,
                "prompt": self.prompt,
                "schema": self.schema,
                "labels": sorted(self.labels),
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    @property
    def tag(self) -> str:
        """``name@version``, recorded as the rule id of the mentions it produces."""
        return f"{self.name}@{self.version}"


def load_task(name_or_path: str) -> LlmTask:
    """A built-in task by name (``default``, ``adjudicate``) or a task file by path.

    Raises:
        TaskError: no such task, not JSON, or a required field is missing or wrong.
    """
    if name_or_path.endswith(".json") or "/" in name_or_path:
        path = Path(name_or_path).expanduser()
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TaskError(f"cannot read LLM task file {path}: {exc.strerror}") from exc
    else:
        node = resources.files("extractors") / "rules" / "llm" / f"{name_or_path}.json"
        if not node.is_file():
            raise TaskError(f"no built-in LLM task named {name_or_path!r}")
        raw = node.read_text(encoding="utf-8")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise TaskError(f"LLM task {name_or_path!r} is not valid JSON: {exc.msg}") from exc
    return task_from_dict(data, name_or_path)


def task_from_dict(data: Mapping[str, Any], where: str = "task") -> LlmTask:
    """Validate and build a task from its JSON form."""
    for key, kind in (("name", str), ("version", int), ("prompt", str), ("schema", dict)):
        if not isinstance(data.get(key), kind):
            raise TaskError(f"LLM task {where!r}: {key!r} must be a {kind.__name__}")
    mode = data.get("mode", "extract")
    if mode not in MODES:
        raise TaskError(f"LLM task {where!r}: mode must be one of {', '.join(MODES)}")
    labels = data.get("labels")
    if (
        not isinstance(labels, list)
        or not labels
        or not all(isinstance(x, str) and x.isupper() for x in labels)
    ):
        raise TaskError(f"LLM task {where!r}: labels must be a list of UPPER_SNAKE names")
    return LlmTask(
        name=data["name"],
        version=data["version"],
        mode=mode,
        prompt=data["prompt"],
        schema=data["schema"],
        labels=frozenset(labels),
    )
