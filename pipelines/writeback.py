"""``notestruct export fhir --bundle transaction``: write the warehouse back as FHIR Bundles."""

from __future__ import annotations

from pathlib import Path

#: ``--bundle`` kinds; only transaction Bundles are written for now.
BUNDLE_KINDS = ("transaction",)


def export_bundles(out_dir: Path, warehouse: str | None, config: Path | None, kind: str) -> str:
    """Write ``Bundle.ndjson`` (one transaction Bundle per note); returns a one-line summary.

    Raises:
        CliError: ``kind`` is not a supported bundle kind.
    """
    from pipelines.cli import CliError
    from pipelines.config import load_config
    from warehouse.bundles import export_transaction_bundles
    from warehouse.engine import make_engine

    if kind not in BUNDLE_KINDS:
        raise CliError(f"--bundle {kind!r}: use one of {', '.join(BUNDLE_KINDS)}")
    cfg = load_config(config, warehouse_url=warehouse)
    engine = make_engine(cfg.warehouse_url.get_secret_value())
    try:
        counts = export_transaction_bundles(engine, out_dir)
    finally:
        engine.dispose()
    return (
        f"wrote {out_dir / 'Bundle.ndjson'}: {counts['bundles']:,} transaction bundles "
        f"({counts['resources']:,} resources)"
    )
