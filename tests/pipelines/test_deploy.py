"""prefect.yaml parses, names a real flow entrypoint, and its parameters validate."""

import importlib.util
import inspect
import re
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = re.compile(r"^\{\{\s*prefect\.(variables|blocks\.secret)\.[\w-]+\s*\}\}$")


def _deployment():
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    (dep,) = [d for d in spec["deployments"] if d["name"] == "nightly"]
    return spec, dep


def test_deployment_is_nightly_at_two_with_timezone_and_one_at_a_time():
    _spec, dep = _deployment()
    (schedule,) = dep["schedules"]
    assert schedule["cron"] == "0 2 * * *"
    ZoneInfo(schedule["timezone"])  # an explicit, real time zone
    limit = dep["concurrency_limit"]
    assert (limit["limit"] if isinstance(limit, dict) else limit) == 1
    assert dep["work_pool"]["name"]


def test_entrypoint_is_the_flow_and_parameters_are_valid_and_not_defaults():
    from prefect import Flow

    _spec, dep = _deployment()
    path, _, name = dep["entrypoint"].partition(":")
    module_spec = importlib.util.spec_from_file_location("deployed_flows", ROOT / path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules["deployed_flows"] = module  # as Prefect loads a file entrypoint
    try:
        module_spec.loader.exec_module(module)
    finally:
        sys.modules.pop("deployed_flows", None)
    flow = getattr(module, name)
    assert isinstance(flow, Flow) and flow.name == "nightly-ingest"
    params = dep["parameters"]
    signature = inspect.signature(flow.fn)
    assert set(params) <= set(signature.parameters)
    for key, value in params.items():
        default = signature.parameters[key].default
        assert value != default, f"{key} repeats the flow's default"
        if isinstance(value, str) and "{{" in value:
            assert TEMPLATE.match(value), f"{key}: only variable/secret-block references"
    assert "{{ prefect.blocks.secret." in params["warehouse_url"]  # never a literal URL
    resolved = {
        k: ("/data/notes" if isinstance(v, str) and "{{" in v else v) for k, v in params.items()
    }
    resolved["warehouse_url"] = "sqlite:///w.db"
    validated = flow.validate_parameters(resolved)
    assert validated["workers"] == params["workers"]
