"""Law files: every figure cites its instrument, and the figures are the ones DOMAIN.md sets out."""

from datetime import date

import pytest

from auditor import law

LAW_DIR = law.HERE
JURISDICTIONS = sorted(p.stem for p in LAW_DIR.glob("*.toml"))
ROOT_KEYS = {"name", "timezone", "currency"}  # descriptive, not figures


def sections(node: dict, path: str = "", cited: bool = False):
    """(path, table, cited) for every table holding figures; a table inherits its parent's sources."""
    cited = cited or bool(node.get("sources"))
    figures = [k for k, v in node.items() if not isinstance(v, (dict, list)) or
               (isinstance(v, list) and not all(isinstance(x, dict) for x in v))]
    if path and figures:
        yield path, node, cited
    for key, value in node.items():
        if isinstance(value, dict):
            yield from sections(value, f"{path}.{key}".strip("."), cited)
        elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            for i, item in enumerate(value):
                yield from sections(item, f"{path}.{key}[{i}]".strip("."), cited)


def test_the_three_jurisdiction_files_exist():
    assert {"cn_standard", "eu_wtd", "minimum_wage"} <= set(JURISDICTIONS)


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_every_section_cites_its_sources(jurisdiction):
    data = law.load(jurisdiction)
    assert data["name"]
    found = list(sections(data))
    assert found, f"{jurisdiction} has no sections"
    uncited = [path for path, _, cited in found if not cited]
    assert not uncited, f"{jurisdiction}: sections without sources: {uncited}"
    for path, table, _ in found:
        for source in table.get("sources", []):
            assert isinstance(source, str) and source.strip(), f"{jurisdiction}.{path}: empty source"


def test_unknown_jurisdiction_fails_clearly():
    with pytest.raises(ValueError, match=r"unknown jurisdiction 'atlantis'.*cn_standard"):
        law.load("atlantis")


def test_cn_standard_keeps_the_existing_figures():
    cn = law.load("cn_standard")
    assert cn["daily_hours"]["limit_hours"] == 8
    assert (cn["daily_extension"]["normal_hours"], cn["daily_extension"]["max_hours"]) == (1, 3)
    assert cn["timezone"] == "Asia/Shanghai"


def test_cn_standard_hours_rest_and_extension():
    cn = law.load("cn_standard")
    assert cn["weekly_hours"]["limit_hours"] == 40
    assert cn["weekly_rest"]["min_hours"] == 24 and "Art. 38" in " ".join(cn["weekly_rest"]["sources"])
    assert cn["monthly_extension"]["max_hours"] == 36 and "Art. 41" in " ".join(cn["monthly_extension"]["sources"])
    assert cn["statutory_holidays"]["days_per_year"] == 13


def test_cn_premiums_cite_labour_law_44_and_wage_payment_13():
    premium = law.load("cn_standard")["overtime_premium"]
    assert {k: premium[k]["multiplier"] for k in premium} == {
        "workday": 1.5, "rest_day": 2.0, "statutory_holiday": 3.0}
    for band in premium.values():
        cited = " ".join(band["sources"])
        assert "第44条" in cited and "489号" in cited and "第13条" in cited


def test_cn_hourly_wage_base():
    base = law.load("cn_standard")["hourly_wage"]
    assert (base["monthly_pay_days"], base["daily_hours"]) == (21.75, 8)
    assert "劳社部发〔2008〕3号" in base["sources"][0]
    assert round(2740 / base["monthly_pay_days"] / base["daily_hours"], 2) == 15.75


def test_cn_platform_working_time_and_hidden_overtime_sources():
    cn = law.load("cn_standard")
    platform = " ".join(cn["platform_working_time"]["sources"])
    assert "人社厅发〔2023〕50号" in platform and "第4条" in platform and "第5条" in platform
    hidden = cn["hidden_overtime"]
    assert len(hidden["criteria"]) == 3
    assert any("北京市第三中级人民法院" in s and "2023" in s for s in hidden["sources"])


def test_cn_hours_systems_are_data():
    systems = law.load("cn_standard")["hours_systems"]
    assert systems["default"] == "standard"
    assert {"standard", "comprehensive", "irregular"} <= set(systems)
    assert systems["comprehensive"]["overtime_basis"] == "cycle"
    assert systems["comprehensive"]["cycle_hours"]["week"] == 40
    assert systems["comprehensive"]["cycle_hours"]["year"] == 2000
    assert systems["irregular"]["overtime_basis"] == "none"


def test_eu_working_time_directive():
    eu = law.load("eu_wtd")
    assert eu["weekly_hours"]["average_limit_hours"] == 48 and "Art. 6" in eu["weekly_hours"]["sources"][0]
    assert eu["daily_rest"]["min_hours"] == 11 and "Art. 3" in eu["daily_rest"]["sources"][0]
    assert eu["weekly_rest"]["min_hours"] == 24 and "Art. 5" in eu["weekly_rest"]["sources"][0]


def test_minimum_wages_for_four_cities():
    rates = law.load("minimum_wage")["rates"]
    by_city = {r["city"]: r for r in rates}
    assert set(by_city) == {"beijing", "shanghai", "guangzhou", "shenzhen"}
    shanghai = by_city["shanghai"]
    assert (shanghai["monthly"], shanghai["effective"]) == (2740, date(2025, 7, 1))
    for rate in rates:
        assert isinstance(rate["effective"], date)
        assert rate["monthly"] > 0 and rate["hourly"] > 0
        assert set(rate.get("verify", [])) <= {"monthly", "hourly", "effective"}
