"""The one frozen ``PipelineConfig``: loaded from TOML with environment overrides (only here)."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from extractors.settings import DEFAULT_EXTRACTORS, NlpSettings

ENV_PREFIX = "NOTESTRUCT_"
DEFAULT_WAREHOUSE = "sqlite:///notestruct.db"


class ConfigError(Exception):
    """The configuration file or an override is invalid."""


class PipelineConfig(BaseModel):
    """Everything a run needs, passed down explicitly (library code never reads the env)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    warehouse_url: SecretStr = SecretStr(DEFAULT_WAREHOUSE)
    store_text: bool = False
    batch_size: int = Field(200, ge=1, le=100_000)
    max_error_rate: float = Field(0.2, ge=0.0, le=1.0)
    max_note_chars: int = Field(1_000_000, ge=1)
    source_uri: str = "urn:notestruct:source:local"
    #: With local NLP workers, the flow process analyses a batch itself whenever it would
    #: otherwise wait for them (it then builds a pipeline too: about 200 MiB more).
    flow_nlp_when_idle: bool = True
    extractors: tuple[str, ...] = DEFAULT_EXTRACTORS
    extractor_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: Coders run after extraction (entry point group notestruct.coders); none by default.
    coders: tuple[str, ...] = ()
    pseudonym_key: SecretStr | None = None
    #: Mask PHI (names, dates, phones, ids, ...) in any text that is stored (same length).
    redact_text: bool = False
    #: Also replace note ids by keyed pseudonyms (sources whose note ids identify people).
    pseudonymise_note_ids: bool = False

    @field_validator("pseudonym_key")
    @classmethod
    def _key_strength(cls, value: SecretStr | None) -> SecretStr | None:
        # the message never quotes the key (pydantic would otherwise echo the input)
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("the pseudonym key must be at least 16 characters")
        return value

    def nlp_settings(self) -> NlpSettings:
        """The part of the config that builds the NLP pipeline."""
        return NlpSettings(
            extractors=self.extractors, options=self.extractor_options, coders=self.coders
        )


def _flatten(raw: Mapping[str, Any]) -> dict[str, Any]:
    wh = raw.get("warehouse", {})
    run = raw.get("run", {})
    nlp = raw.get("nlp", {})
    privacy = raw.get("privacy", {})
    out: dict[str, Any] = {}
    if "url" in wh:
        out["warehouse_url"] = wh["url"]
    if "store_text" in wh:
        out["store_text"] = wh["store_text"]
    for key in (
        "batch_size",
        "max_error_rate",
        "max_note_chars",
        "source_uri",
        "flow_nlp_when_idle",
    ):
        if key in run:
            out[key] = run[key]
    if "extractors" in nlp:
        out["extractors"] = tuple(nlp["extractors"])
    if "coders" in nlp:
        out["coders"] = tuple(nlp["coders"])
    if "options" in nlp:
        out["extractor_options"] = nlp["options"]
    if "pseudonym_key_file" in privacy:
        out["pseudonym_key"] = _read_key_file(privacy["pseudonym_key_file"])
    for key in ("redact_text", "pseudonymise_note_ids"):
        if key in privacy:
            out[key] = privacy[key]
    return out


def _read_key_file(path: str) -> str:
    try:
        key = Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the pseudonym key file: {exc.strerror}") from exc
    if len(key) < 16:
        raise ConfigError("the pseudonym key must be at least 16 characters")
    return key


def load_config(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> PipelineConfig:
    """Load ``path`` (default: ./pipeline.toml if present), then env, then explicit overrides.

    Raises:
        ConfigError: the file is missing, not TOML, or has invalid values.
    """
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    candidate = Path(path) if path else Path("pipeline.toml")
    if path and not candidate.is_file():
        raise ConfigError(f"config file not found: {candidate}")
    if candidate.is_file():
        try:
            raw = _flatten(tomllib.loads(candidate.read_text(encoding="utf-8")))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{candidate} is not valid TOML: {exc}") from exc
    if env.get(f"{ENV_PREFIX}WAREHOUSE_URL"):
        raw["warehouse_url"] = env[f"{ENV_PREFIX}WAREHOUSE_URL"]
    if env.get(f"{ENV_PREFIX}PSEUDONYM_KEY_FILE"):
        raw["pseudonym_key"] = _read_key_file(env[f"{ENV_PREFIX}PSEUDONYM_KEY_FILE"])
    if env.get(f"{ENV_PREFIX}PSEUDONYM_KEY"):
        raw["pseudonym_key"] = env[f"{ENV_PREFIX}PSEUDONYM_KEY"]
    raw.update({k: v for k, v in overrides.items() if v is not None})
    from pipelines.llm import with_llm_defaults

    raw = with_llm_defaults(raw, env)  # the llm extractor's cache folder (NOTESTRUCT_HOME)
    try:
        return PipelineConfig(**raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"invalid configuration value for {where}: {first['msg']}") from exc


# --- the process environment: read (and, for Prefect, set) only here -----------------------


def notestruct_home() -> Path:
    """The folder notestruct owns for Prefect's state and caches (``NOTESTRUCT_HOME``)."""
    return Path(os.environ.get("NOTESTRUCT_HOME", Path.home() / ".notestruct")).expanduser()


def progress_forced() -> bool:
    """Draw progress bars even when stderr is not a terminal (``NOTESTRUCT_PROGRESS=1``)."""
    return os.environ.get("NOTESTRUCT_PROGRESS") == "1"


def prefect_api_url() -> str | None:
    """A Prefect API the user points at (``PREFECT_API_URL``), if any."""
    return os.environ.get("PREFECT_API_URL") or None


def prefect_api_configured(cwd: Path | None = None) -> bool:
    """Whether runs report to a Prefect API (a server, Cloud), deciding without importing
    Prefect (0.7-0.9 s) when nothing can configure one.

    ``PREFECT_API_URL`` in the environment says yes. Prefect also reads its settings from a
    profiles file, ``.env``, ``prefect.toml`` and ``pyproject.toml`` ``[tool.prefect]`` in the
    working directory: when one of those exists, Prefect itself is asked, so a run reports to
    exactly the API Prefect would use.
    """
    if os.environ.get("PREFECT_API_URL"):
        return True
    if not _prefect_settings_files(cwd or Path.cwd()):
        return False
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


def _prefect_settings_files(cwd: Path) -> list[Path]:
    """The files that may hold Prefect settings for a process started in ``cwd``."""
    found: list[Path] = []
    if os.environ.get("PREFECT_PROFILE"):
        found.append(Path("<PREFECT_PROFILE>"))
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml")
    if profiles.expanduser().is_file():
        found.append(profiles)
    if (cwd / "prefect.toml").is_file():
        found.append(cwd / "prefect.toml")
    # these two are common for other reasons: only when they mention Prefect
    for name, marker in ((".env", "PREFECT_"), ("pyproject.toml", "tool.prefect")):
        path = cwd / name
        try:
            if path.is_file() and marker in path.read_text(encoding="utf-8", errors="replace"):
                found.append(path)
        except OSError:
            found.append(path)
    return found


#: Word forms a pipeline's vocabulary may hold before it is built anew (about 0.7 KiB each,
#: so the default bounds it near 140 MiB); ``NOTESTRUCT_VOCAB_LIMIT`` overrides, 0 disables.
VOCAB_LIMIT = 200_000


def vocab_limit() -> int:
    """The vocabulary limit: ``NOTESTRUCT_VOCAB_LIMIT`` if set (0 disables), else the default."""
    raw = os.environ.get("NOTESTRUCT_VOCAB_LIMIT", "").strip()
    return int(raw) if raw.isdigit() else VOCAB_LIMIT


def prepare_prefect(verbose: bool = False) -> None:
    """Quiet, predictable Prefect: home in notestruct's folder, no analytics, no result storage.

    Sets Prefect's settings in the environment (where Prefect reads them), keeping any the
    user set.
    """
    home = notestruct_home() / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    defaults = {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO" if verbose else "WARNING",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
        "PREFECT_TASKS_DEFAULT_PERSIST_RESULT": "false",
        "PREFECT_LOGGING_LOG_PRINTS": "false",
        "PREFECT_UI_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        # the local server needs longer than Prefect's 20 s on a busy machine
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        # the CLI reports a failed run in one line; Prefect's own error logs would add a
        # traceback (they still reach Prefect's API and show with --verbose)
        "PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL": "INFO" if verbose else "CRITICAL",
        "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL": "INFO" if verbose else "CRITICAL",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
