"""The Grafana dashboard and the README's metrics section name only metrics the server
exposes, and the README describes every one of them."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from openrouter_image_mcp.settings import Settings
from openrouter_image_mcp.telemetry.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "openrouter-image-mcp.json"
METRIC = re.compile(r"\bimage_mcp_[a-z_]+[a-z]\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


@cache
def families() -> dict[str, str]:
    """This server's metric families (name: type), from what /metrics would serve."""
    text = generate_latest(Metrics(Settings(_env_file=None)).registry).decode()  # type: ignore[call-arg]
    return {
        family.name: family.type
        for family in text_string_to_metric_families(text)
        if family.name.startswith("image_mcp_")
    }


def queryable() -> set[str]:
    """Every name a query may use: the series' names and the families' own."""
    names = set(families())
    for name, kind in families().items():
        names |= {name + suffix for suffix in SUFFIXES[kind]}
    return names


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def readme_observability() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme[readme.index("### Metrics") : readme.index("## Development")]


def test_the_dashboard_queries_only_exposed_metrics() -> None:
    expressions = [target["expr"] for panel in dashboard()["panels"] for target in panel["targets"]]
    named = {name for expr in expressions for name in METRIC.findall(expr)}
    assert named, "no query names a metric"
    assert named <= queryable(), named - queryable()
    assert {name.removesuffix("_total") for name in named} >= {
        "image_mcp_tool_calls",
        "image_mcp_upstream_cost_usd",
        "image_mcp_cache_events",
        "image_mcp_queue_depth",
    }


def test_the_dashboard_panels_are_laid_out_and_use_the_chosen_data_source() -> None:
    panels = dashboard()["panels"]
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    assert len({panel["id"] for panel in panels}) == len(panels)
    (variable,) = dashboard()["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == (
        "datasource",
        "datasource",
        "prometheus",
    )


def test_the_readme_names_only_exposed_metrics_and_describes_them_all() -> None:
    section = readme_observability()
    named = set(METRIC.findall(section))
    assert named <= queryable(), named - queryable()
    described = set(re.findall(r"^\| `(image_mcp_[a-z_]+)` \|", section, re.M))
    assert {
        name + ("_total" if kind == "counter" else "") for name, kind in families().items()
    } == described
