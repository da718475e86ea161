"""Settings that change results. They are recorded with every run and on every finding."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property

from auditor import law as law_data


@dataclass(frozen=True)
class Settings:
    jurisdiction: str = "cn_standard"  # a parameter set in auditor/law/
    hours_system: str = "standard"  # standard | comprehensive | irregular (cn_standard.toml [hours_systems])
    working_window: tuple[str, str] = ("09:00", "18:00")  # used on workdays for workers without a roster
    use_roster: bool = True  # a worker's roster, where there is one, defines their working time
    chat_gap_minutes: float = 60.0  # stitching gap for chat activity (Viva Insights' after-hours span)
    device_gap_minutes: float = 15.0  # stitching gap for app/device activity
    monthly_wage: float | None = None  # None: the local minimum wage, marked as an assumption
    city: str = "shanghai"  # whose minimum wage is the default (auditor/law/minimum_wage.toml)
    excluded_platforms: tuple[str, ...] = ()  # time on these platforms is another job, not this one's
    roles: dict[str, str] = field(default_factory=dict, hash=False)  # participant -> role overrides

    @cached_property
    def law(self) -> dict:
        return law_data.load(self.jurisdiction)

    def to_dict(self) -> dict:
        return asdict(self)
