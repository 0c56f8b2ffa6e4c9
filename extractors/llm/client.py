"""A chat-completions client for any OpenAI-compatible server (vLLM, Ollama, llama.cpp,
Azure OpenAI), with backoff on timeouts, 429 and 5xx, and one repair retry for bad JSON.

Nothing here logs a prompt, a note chunk or a reply: log records carry counts and status
codes only (docs/privacy.md).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from extractors.settings import ExtractionError

if TYPE_CHECKING:  # httpx (with rich, pygments) is imported where a client is made: every
    # pipeline build imports this module through the spaCy factories' entry points
    import httpx

log = logging.getLogger(__name__)


class LlmError(ExtractionError):
    """The LLM stage failed for a note (dead-lettered at stage ``llm``; the run goes on)."""

    stage = "llm"
    #: (prompt, completion) tokens spent on replies before the failure
    usage: tuple[int, int] = (0, 0)


class LlmBudgetExhausted(LlmError):
    """The run's token budget or request cap is reached: no more requests this run."""


class LlmConfigError(Exception):
    """The ``[nlp.options.llm]`` settings are invalid or refused (e.g. a remote endpoint)."""


@dataclass(frozen=True)
class Reply:
    """A parsed answer and what it cost."""

    answer: dict[str, Any]
    prompt_tokens: int
    completion_tokens: int
    requests: int


def is_loopback(base_url: str) -> bool:
    """Whether ``base_url`` names this machine (localhost, 127.0.0.0/8, ::1)."""
    host = (urlsplit(base_url).hostname or "").strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(base_url: str, allow_remote: bool) -> None:
    """Refuse endpoints other than loopback unless the config allows them.

    Raises:
        LlmConfigError: not an http(s) URL, or a remote host without ``allow_remote``.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise LlmConfigError("llm base_url must be an http(s) URL")
    if not allow_remote and not is_loopback(base_url):
        raise LlmConfigError(
            f"llm base_url host {parts.hostname!r} is not loopback; note text would leave this "
            "machine: set allow_remote = true under [nlp.options.llm] to allow it"
        )


_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.IGNORECASE)


def parse_json_answer(content: str) -> dict[str, Any] | None:
    """The JSON object in a reply: bare, in a code fence, or inside surrounding prose
    (servers that ignore ``response_format``); None when there is none."""
    text = _FENCE.sub("", content.strip())
    for candidate in (text, text[text.find("{") : text.rfind("}") + 1]):
        if not candidate:
            continue
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


_TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
}


def conforms(value: Any, schema: Mapping[str, Any]) -> bool:
    """Whether ``value`` fits the subset of JSON Schema tasks use (type, required,
    properties, items, enum)."""
    kind = schema.get("type")
    if kind is not None:
        expected = _TYPES.get(str(kind))
        if expected is None or not isinstance(value, expected):
            return False
        if kind in {"integer", "number"} and isinstance(value, bool):
            return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if isinstance(value, dict):
        if any(k not in value for k in schema.get("required", ())):
            return False
        props = schema.get("properties", {})
        if any(k in value and not conforms(value[k], s) for k, s in props.items()):
            return False
    if isinstance(value, list) and "items" in schema and kind == "array":
        # items are checked one by one by the caller (a partial answer keeps its good items)
        return True
    return True


@dataclass(frozen=True)
class ClientSettings:
    """Where and how to call the model."""

    base_url: str
    model: str
    api_key_env: str | None = None
    seed: int | None = 0
    timeout_s: float = 60.0
    max_retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    send_response_format: bool = True


class ChatClient:
    """Calls ``POST {base_url}/chat/completions``; thread-safe (one httpx client)."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        import httpx

        self.settings = settings
        self._sleep = sleep
        headers = {"Content-Type": "application/json"}
        key = self._api_key()
        if key:
            # OpenAI-style bearer and Azure's api-key header: each server reads its own
            headers["Authorization"] = f"Bearer {key}"
            headers["api-key"] = key
        self._http = httpx.Client(
            base_url=settings.base_url.rstrip("/") + "/",
            timeout=httpx.Timeout(settings.timeout_s),
            headers=headers,
            transport=transport,
            trust_env=False,  # never route note text through a proxy named in the environment
        )
        self._lock = threading.Lock()

    def _api_key(self) -> str | None:
        # The one environment read outside pipelines/: a secret must not travel in the NLP
        # settings, which are hashed into the rules version and handed to Prefect tasks.
        name = self.settings.api_key_env
        return os.environ.get(name) if name else None

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def complete(
        self,
        system: str,
        user: str,
        schema: Mapping[str, Any],
        *,
        admit: Callable[[], None] = lambda: None,
    ) -> Reply:
        """Ask once (with backoff) and, if the reply is not a JSON object of ``schema``'s
        outer shape, once more with a repair message.

        Args:
            system: the task prompt.
            user: the user message (the note chunk, verbatim).
            schema: the answer's JSON schema (checked on the outer object).
            admit: called before every request; raises ``LlmBudgetExhausted`` to stop.

        Raises:
            LlmError: the server kept failing, or the reply stayed malformed.
        """
        messages: list[dict[str, str]] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]
        prompt_tokens = completion_tokens = requests = 0
        for attempt in (1, 2):
            admit()
            content, usage = self._post(messages, schema)
            requests += 1
            prompt_tokens += usage[0]
            completion_tokens += usage[1]
            answer = parse_json_answer(content)
            if answer is not None and conforms(answer, {**schema, "properties": {}}):
                return Reply(answer, prompt_tokens, completion_tokens, requests)
            if attempt == 1:
                log.info("LLM reply was not valid JSON for the task; one repair retry")
                messages = [
                    *messages,
                    {"role": "assistant", "content": content},
                    {
                        "role": "user",
                        "content": "Your reply was not a JSON object of the required form. "
                        "Reply again with only that JSON object, no other text.",
                    },
                ]
        error = LlmError("the LLM reply was malformed JSON twice (after one repair retry)")
        error.usage = (prompt_tokens, completion_tokens)  # the failed replies cost tokens too
        raise error

    def _post(
        self, messages: list[dict[str, str]], schema: Mapping[str, Any]
    ) -> tuple[str, tuple[int, int]]:
        import httpx

        s = self.settings
        body: dict[str, Any] = {"model": s.model, "messages": messages, "temperature": 0}
        if s.seed is not None:
            body["seed"] = s.seed
        if s.send_response_format:
            body["response_format"] = {"type": "json_object"}
        last = "no reply"
        for attempt in range(s.max_retries + 1):
            wait: float | None = None
            try:
                response = self._http.post("chat/completions", json=body)
            except httpx.TimeoutException:
                last = f"timed out after {s.timeout_s:g} s"
            except httpx.TransportError as exc:
                last = f"connection failed ({type(exc).__name__})"
            else:
                code = response.status_code
                if code == 200:
                    return _content(response)
                if code == 429 or code >= 500:
                    last = f"HTTP {code}"
                    wait = _retry_after(response.headers.get("retry-after"))
                else:  # 4xx: a retry cannot cure it
                    raise LlmError(f"the LLM endpoint refused the request (HTTP {code})")
            if attempt == s.max_retries:
                break
            delay = wait if wait is not None else s.backoff_s * (2**attempt)
            log.info("LLM request failed (%s); retry %d in %.1f s", last, attempt + 1, delay)
            self._sleep(min(delay, s.max_backoff_s))
        raise LlmError(f"the LLM endpoint failed: {last} after {s.max_retries + 1} attempts")


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date: fall back to our own backoff
        return None


def _content(response: httpx.Response) -> tuple[str, tuple[int, int]]:
    try:
        data = response.json()
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return "", (0, 0)  # treated as a malformed reply (repair retry, then dead letter)
    usage = data.get("usage") or {}
    return (
        str(content or ""),
        (int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)),
    )
