"""The worker's data stays on the machine: no telemetry, no network code in the library."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
NETWORK = re.compile(r"^\s*(import|from)\s+(requests|httpx|urllib\.request|urllib3|http\.client|socket|aiohttp)\b",
                     re.MULTILINE)


def test_streamlit_sends_no_usage_statistics_and_asks_for_no_email():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["browser"]["gatherUsageStats"] is False
    assert config["server"]["showEmailPrompt"] is False
    assert config["server"]["address"] == "localhost"  # else Streamlit looks up the public IP online


def test_no_module_of_the_tool_imports_a_network_client():
    sources = [*ROOT.glob("auditor/**/*.py"), *ROOT.glob("connectors/**/*.py"), ROOT / "app.py"]
    offenders = [str(p.relative_to(ROOT)) for p in sources if NETWORK.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
