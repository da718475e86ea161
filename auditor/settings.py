"""Settings that change results. They are recorded with every run and on every finding."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
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
    # control indicators (issue 7): None = the realistic delivery time is the median actual time for
    # the distance (算法取中); a speed in km/h replaces it with distance ÷ speed
    deadline_speed_kmh: float | None = None
    inspection_seed: int = 20260427  # 双随机 random sample of riders: recorded on the sample
    # working time (issue 6): a monthly wage per worker where the user knows it (a contract, a
    # payslip); it takes precedence over monthly_wage, and both over the minimum-wage assumption
    worker_wages: dict[str, float] = field(default_factory=dict, hash=False)

    @cached_property
    def law(self) -> dict:
        return law_data.jurisdiction(self.jurisdiction)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, recorded: dict) -> Settings:
        """The settings a manifest recorded (``to_dict``); other keys (engine, inputs) are ignored."""
        known = {f.name: f for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in recorded.items() if k in known}
        return cls(**values)
