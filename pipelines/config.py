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
    extractors: tuple[str, ...] = DEFAULT_EXTRACTORS
    extractor_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
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
        return NlpSettings(extractors=self.extractors, options=self.extractor_options)


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
    for key in ("batch_size", "max_error_rate", "max_note_chars", "source_uri"):
        if key in run:
            out[key] = run[key]
    if "extractors" in nlp:
        out["extractors"] = tuple(nlp["extractors"])
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
