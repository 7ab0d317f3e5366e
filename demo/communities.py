"""The demo network's communities (Yammer groups): company-wide, per department, and interests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from demo.organisation import DEPARTMENTS, Organisation

# name, private, created at this fraction of the year
INTERESTS = (
    ("IT Help Desk", False, 0.0),
    ("Innovation Hub", False, 0.0),
    ("Wellbeing, Health & Safety", False, 0.0),
    ("Social Club", False, 0.0),
    ("Customer Stories", False, 0.0),
    ("Leadership Team", True, 0.0),
    ("Women in Insurance", False, 0.3),
    ("Green Team", False, 0.55),
    ("Claims Innovation Lab", True, 0.7),
)


@dataclass
class Communities:
    """Groups as arrays indexed by group; group 0 is All Company."""

    names: list[str]
    descriptions: list[str]
    private: np.ndarray  # bool
    created_day: np.ndarray  # int32
    created_second: np.ndarray  # int32
    creator: np.ndarray  # int32 person
    ids: np.ndarray  # int64
    department_group: np.ndarray  # int16 per department: its group, or -1
    interests: np.ndarray  # int16 group indices of interest communities

    def interests_open_on(self, t: int) -> np.ndarray:
        """Interest communities that exist on day t."""
        return self.interests[self.created_day[self.interests] <= t]


def build_communities(org: Organisation, seed: int) -> Communities:
    """All Company and one group per large department at launch; interests over the year."""
    rng = np.random.default_rng([seed, 2])
    names = ["All Company"] + [f"{d} Community" for d, _ in DEPARTMENTS]
    descriptions = ["News and announcements for everyone at Harbour Mutual."] + [
        f"Everything {d}: wins, questions, \"how do I\" and shout-outs." for d, _ in DEPARTMENTS
    ]
    private = [False] * len(names)
    created = [0] * len(names)
    names += [name for name, _, _ in INTERESTS]
    descriptions += [f"A community for {name.lower()}." for name, _, _ in INTERESTS]
    private += [p for _, p, _ in INTERESTS]
    created += [int(frac * (org.days - 1)) for _, _, frac in INTERESTS]
    n = len(names)
    managers = np.flatnonzero(org.is_manager)
    creator = managers[rng.integers(0, len(managers), n)].astype(np.int32)
    creator[0] = 0  # the chief executive opens the network
    department_group = np.full(len(org.department_names), -1, np.int16)
    department_group[: len(DEPARTMENTS)] = np.arange(1, len(DEPARTMENTS) + 1)
    return Communities(
        names=names,
        descriptions=descriptions,
        private=np.array(private, bool),
        created_day=np.array(created, np.int32),
        created_second=rng.integers(8 * 3600, 11 * 3600, n).astype(np.int32),
        creator=creator,
        ids=5_259_393 + np.cumsum(rng.integers(1_000, 900_000, n)).astype(np.int64),
        department_group=department_group,
        interests=np.arange(1 + len(DEPARTMENTS), n, dtype=np.int16),
    )
