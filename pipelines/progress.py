"""Progress reporting from a run to whoever started it (the CLI's rich progress bar)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Protocol


class ProgressSink(Protocol):
    """Receives counts as batches finish (ids and counts only, never text)."""

    def advance(self, *, notes: int, errors: int, mentions: int) -> None:
        """``notes`` records more were handled, of which ``errors`` failed."""

    def finish(self, summary: dict[str, Any]) -> None:
        """The run's summary (counts, status, run id), also when the run then fails."""


class _NoProgress:
    def advance(self, *, notes: int, errors: int, mentions: int) -> None:
        return None

    def finish(self, summary: dict[str, Any]) -> None:
        return None


#: The sink for the current context; the CLI sets it around a flow call.
current_sink: ContextVar[ProgressSink] = ContextVar(
    "notestruct_progress",
    default=_NoProgress(),  # noqa: B039  stateless default
)


def report_summary(summary: dict[str, Any]) -> None:
    """Hand the run's summary to the current sink (a function, so flows that Prefect pickles
    by value for worker processes do not capture the ContextVar itself)."""
    sink = current_sink.get()
    finish = getattr(sink, "finish", None)
    if finish is not None:
        finish(summary)


def report_begin() -> None:
    """Tell the current sink that reading starts now (Prefect and the NLP are ready), so the
    notes/s it shows measure the work, not the start-up."""
    begin = getattr(current_sink.get(), "begin", None)
    if begin is not None:
        begin()
