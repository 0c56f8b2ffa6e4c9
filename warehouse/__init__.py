"""SQL warehouse: tables, migrations, idempotent loading, analyst views and exports."""
