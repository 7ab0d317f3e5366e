"""The demo insurer: people, departments, regions, managers, Yammer accounts and HR moves."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from errors import UptakeError

NEVER = 1 << 30  # a day index later than any demo day
MIN_MEMBERS = 50
DOMAIN = "harbourmutual.example"

DEPARTMENTS = (
    ("Claims", 0.22), ("Customer Service", 0.19), ("Underwriting", 0.15), ("Sales", 0.10),
    ("IT", 0.09), ("Finance", 0.06), ("Risk", 0.05), ("Actuarial", 0.04), ("Marketing", 0.04),
    ("HR", 0.035), ("Legal", 0.025),
)
TINY_DEPARTMENTS = (("Executive Office", 4), ("Internal Audit", 3))
# country, region, profile location, weight
COUNTRIES = (
    ("United Kingdom", "UK & Ireland", "London", 0.38), ("Ireland", "UK & Ireland", "Dublin", 0.07),
    ("Sweden", "Scandinavia", "Stockholm", 0.08), ("Norway", "Scandinavia", "Oslo", 0.05),
    ("Denmark", "Scandinavia", "Copenhagen", 0.04), ("Canada", "Canada", "Toronto", 0.16),
    ("Germany", "Europe", "Frankfurt", 0.06), ("France", "Europe", "Paris", 0.05),
    ("Netherlands", "Europe", "Amsterdam", 0.03), ("Spain", "Europe", "Madrid", 0.02),
    ("United Arab Emirates", "Middle East", "Dubai", 0.03),
    ("Saudi Arabia", "Middle East", "Riyadh", 0.02),
)
TINY_COUNTRIES = (("Singapore", "Asia", "Singapore", 4),)

FIRST = (
    "Oliver", "Amelia", "Jack", "Isla", "Harry", "Ava", "George", "Mia", "Noah", "Grace",
    "Liam", "Sophie", "Conor", "Aoife", "Seán", "Niamh", "Lars", "Ingrid", "Søren", "Astrid",
    "Erik", "Freja", "Magnus", "Sigrid", "Ethan", "Chloé", "Lucas", "Emma", "Benjamin", "Olivia",
    "Lukas", "Hannah", "Jonas", "Léa", "Hugo", "Zoë", "Daan", "Sanne", "Pablo", "Lucía",
    "Omar", "Layla", "Yusuf", "Fatima", "Ahmed", "Noor", "Wei", "Mei", "Arjun", "Priya",
    "Samuel", "Ruth", "Daniel", "Alice", "Thomas", "Charlotte", "James", "Emily", "Henry", "Ella",
)
LAST = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Walker", "Murphy",
    "Kelly", "O'Brien", "Byrne", "Andersson", "Johansson", "Nilsen", "Hansen", "Jensen",
    "Larsen", "Lindqvist", "Berg", "Tremblay", "Roy", "Gagnon", "Martin", "Leblanc", "Müller",
    "Schmidt", "Schneider", "Fischer", "Dubois", "Moreau", "Lefèvre", "de Vries", "Jansen",
    "Bakker", "García", "Fernández", "López", "Al-Sayed", "Haddad", "Khan", "Rahman", "Tan",
    "Lim", "Chen", "Patel", "Shah", "Clarke", "Hughes", "Edwards", "Green", "Hall", "Wood",
    "Harris", "Lewis", "Robinson", "Thompson", "White", "Cooper", "Ward",
)
ASCII = str.maketrans({"é": "e", "è": "e", "ë": "e", "ø": "o", "ü": "u", "í": "i", "á": "a",
                       "ó": "o", "'": "", " ": "", "-": ""})
TITLES = ("Analyst", "Specialist", "Senior Specialist", "Associate", "Consultant", "Officer")

# kinds of people
JOINED, SUSPENDED, DELETED, PENDING, NON_JOINER, ACTIVITY_ONLY = range(6)
HAS_USER_RECORD = (JOINED, SUSPENDED, DELETED, PENDING)


@dataclass
class Organisation:
    """Everyone employed during the demo year, as arrays indexed by person."""

    launch: dt.date
    days: int
    department_names: list[str]
    country_names: list[str]
    region_names: list[str]
    location_names: list[str]
    email: np.ndarray  # object
    name: np.ndarray  # object
    kind: np.ndarray  # int8, one of the kinds above
    country: np.ndarray  # int16
    hire_day: np.ndarray  # int32, days from launch (negative: before launch)
    term_day: np.ndarray  # int32, NEVER when still employed
    start_day: np.ndarray  # int32: first member day (join, or first activity); NEVER if none
    stop_day: np.ndarray  # int32: first day no longer a member (suspension/deletion); NEVER
    join_day: np.ndarray  # int32 or NEVER
    join_second: np.ndarray  # int32, second of the join day (UTC)
    suspend_day: np.ndarray  # int32 or NEVER
    delete_day: np.ndarray  # int32 or NEVER
    yammer_id: np.ndarray  # int64
    snapshot_days: np.ndarray  # int32: as_of day of each monthly roster snapshot
    department: np.ndarray  # int16 [snapshot, person]
    manager: np.ndarray  # int32 [snapshot, person], -1 for the chief executive
    profile_department: np.ndarray  # object: the Yammer profile field (free text, may be blank)
    archetype: np.ndarray  # int8: 0 champion, 1 regular, 2 occasional, 3 lurker
    is_manager: np.ndarray  # bool

    @property
    def size(self) -> int:
        """People in the workforce over the whole year."""
        return len(self.email)

    @property
    def end(self) -> dt.date:
        """The last demo day."""
        return self.launch + dt.timedelta(days=self.days - 1)

    def day(self, t: int) -> dt.date:
        """The calendar date of day index t."""
        return self.launch + dt.timedelta(days=int(t))

    def snapshot_of(self, t: int) -> int:
        """The roster snapshot in effect on day t."""
        return max(0, int(np.searchsorted(self.snapshot_days, t, side="right")) - 1)

    def members_on(self, t: int) -> np.ndarray:
        """Boolean mask of members on day t."""
        return (self.start_day <= t) & (t < self.stop_day)


def build_organisation(members: int, days: int, end: dt.date, seed: int) -> Organisation:
    """Generate the workforce so that exactly `members` people are members on the last day."""
    if members < MIN_MEMBERS:
        raise UptakeError(f"demo: --members must be at least {MIN_MEMBERS} (got {members})")
    if days < 7:
        raise UptakeError(f"demo: --days must be at least 7 (got {days})")
    rng = np.random.default_rng([seed, 0])
    launch = end - dt.timedelta(days=days - 1)
    counts = {
        ACTIVITY_ONLY: max(2, round(members * 0.003)),
        SUSPENDED: max(2, round(members * 0.008)),
        DELETED: max(2, round(members * 0.005)),
        PENDING: max(3, round(members * 0.03)),
        NON_JOINER: max(5, round(members * 0.12)),
    }
    counts[JOINED] = members - counts[ACTIVITY_ONLY]
    tiny = sum(n for _, n in TINY_DEPARTMENTS) + sum(n for *_, n in TINY_COUNTRIES)
    pool = np.concatenate([np.full(n - (tiny if k == JOINED else 0), k) for k, n in counts.items()])
    kind = np.concatenate([np.full(tiny, JOINED), rng.permutation(pool)]).astype(np.int8)
    n = len(kind)

    dept0, country = _departments_and_countries(rng, n)
    hire_day, term_day = _employment(rng, kind, days, tiny)
    join_day, join_second, suspend_day, delete_day, term_day = _accounts(
        rng, kind, days, hire_day, term_day
    )
    first_activity = np.where(kind == ACTIVITY_ONLY, rng.integers(0, days, n), NEVER)
    start_day = np.where(join_day < NEVER, join_day, first_activity).astype(np.int32)
    stop_day = np.minimum(suspend_day, delete_day).astype(np.int32)

    snapshot_days = _snapshot_days(launch, days)
    stable = (hire_day <= 0) & (term_day == NEVER)
    manager0, is_manager = _hierarchy(rng, dept0, stable, len(DEPARTMENTS))
    department, manager = _moves(rng, dept0, manager0, is_manager, len(snapshot_days))
    first, last = rng.integers(0, len(FIRST), n), rng.integers(0, len(LAST), n)
    names = np.array([f"{FIRST[f]} {LAST[s]}" for f, s in zip(first, last, strict=True)], object)
    department_names = [d for d, _ in DEPARTMENTS] + [d for d, _ in TINY_DEPARTMENTS]
    profile = np.array(department_names, object)[dept0]
    profile[rng.random(n) < 0.06] = ""  # free-text profile fields are often blank
    all_countries = COUNTRIES + tuple((c, r, loc, 0.0) for c, r, loc, _ in TINY_COUNTRIES)
    archetype = rng.choice(4, size=n, p=[0.06, 0.46, 0.33, 0.15]).astype(np.int8)
    return Organisation(
        launch=launch,
        days=days,
        department_names=department_names,
        country_names=[c[0] for c in all_countries],
        region_names=[c[1] for c in all_countries],
        location_names=[c[2] for c in all_countries],
        email=_emails(first, last),
        name=names,
        kind=kind,
        country=country,
        hire_day=hire_day,
        term_day=term_day,
        start_day=start_day,
        stop_day=stop_day,
        join_day=join_day,
        join_second=join_second,
        suspend_day=suspend_day,
        delete_day=delete_day,
        yammer_id=1_489_760_410 + np.cumsum(rng.integers(1, 40_000, n)).astype(np.int64),
        snapshot_days=snapshot_days,
        department=department,
        manager=manager,
        profile_department=profile,
        archetype=archetype,
        is_manager=is_manager,
    )


def _departments_and_countries(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Department at launch and country; the first people fill the tiny groups."""
    weights = np.array([w for _, w in DEPARTMENTS])
    dept = rng.choice(len(DEPARTMENTS), size=n, p=weights / weights.sum()).astype(np.int16)
    cweights = np.array([c[3] for c in COUNTRIES])
    country = rng.choice(len(COUNTRIES), size=n, p=cweights / cweights.sum()).astype(np.int16)
    at = 0
    for i, (_, size) in enumerate(TINY_DEPARTMENTS):
        dept[at:at + size] = len(DEPARTMENTS) + i
        country[at:at + size] = 0  # head office
        at += size
    for i, (*_, size) in enumerate(TINY_COUNTRIES):
        country[at:at + size] = len(COUNTRIES) + i
        at += size
    return dept, country


def _employment(
    rng: np.random.Generator, kind: np.ndarray, days: int, tiny: int
) -> tuple[np.ndarray, np.ndarray]:
    """Hire days (mostly long before launch, ~7%/year during it) and non-joiner leavers."""
    n = len(kind)
    hire = -(1 + rng.exponential(6 * 365, n)).astype(np.int32)
    may_be_new = np.isin(kind, (JOINED, PENDING, NON_JOINER)) & (np.arange(n) >= tiny)
    new = may_be_new & (rng.random(n) < 0.07 * days / 365)
    hire[new] = rng.integers(1, max(2, days - 1), new.sum())
    term = np.full(n, NEVER, np.int32)
    leaving = (kind == NON_JOINER) & ~new & (rng.random(n) < 0.1)
    term[leaving] = rng.integers(1, days, leaving.sum())
    return hire.astype(np.int32), term


def _accounts(
    rng: np.random.Generator, kind: np.ndarray, days: int, hire: np.ndarray, term: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Join days front-loaded after launch; leavers suspended or deleted on leaving."""
    n = len(kind)
    mean = max(3.0, days * 0.15)
    u = rng.random(n)
    tail = -mean * np.log1p(-u * (1 - np.exp(-(days - 1) / mean)))  # truncated exponential
    join = np.where(rng.random(n) < 0.3, 0, tail.astype(np.int32))
    after_hire = hire + 1 + rng.exponential(10, n).astype(np.int32)
    join = np.where(hire > 0, np.minimum(after_hire, days - 1), join).astype(np.int32)
    leaver = np.isin(kind, (SUSPENDED, DELETED))
    join[leaver] = (rng.random(leaver.sum()) * (days - 2) * 0.5).astype(np.int32)
    term = term.copy()
    term[leaver] = join[leaver] + 1 + (rng.random(leaver.sum()) * (days - 2 - join[leaver]))
    join[~np.isin(kind, (JOINED, SUSPENDED, DELETED))] = NEVER
    suspend = np.full(n, NEVER, np.int32)
    delete = np.full(n, NEVER, np.int32)
    suspend[kind == SUSPENDED] = term[kind == SUSPENDED]
    deleted = np.flatnonzero(kind == DELETED)
    via_suspension = rng.random(len(deleted)) < 0.5
    suspend[deleted[via_suspension]] = term[deleted[via_suspension]]
    delete[deleted] = np.where(
        via_suspension, np.minimum(term[deleted] + 30, days - 1), term[deleted]
    )
    second = rng.integers(7 * 3600, 10 * 3600, n).astype(np.int32)
    return join, second, suspend, delete, term


def _snapshot_days(launch: dt.date, days: int) -> np.ndarray:
    """Launch day, then the first of every following month within the demo."""
    out = [0]
    month = dt.date(launch.year + launch.month // 12, launch.month % 12 + 1, 1)
    while (month - launch).days < days:
        out.append((month - launch).days)
        month = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return np.array(out, np.int32)


def _hierarchy(
    rng: np.random.Generator, dept: np.ndarray, stable: np.ndarray, big: int
) -> tuple[np.ndarray, np.ndarray]:
    """About one manager per 8 people; heads report to the chief executive's office."""
    manager = np.zeros(len(dept), np.int32)  # person 0 is the chief executive
    is_manager = np.zeros(len(dept), bool)
    exec_office = np.flatnonzero(dept == big)
    manager[0], is_manager[0] = -1, True
    for d in range(big + 1, big + len(TINY_DEPARTMENTS)):  # small units: one head each
        people = np.flatnonzero(dept == d)
        manager[people[1:]], is_manager[people[0]] = people[0], True
    for d in range(big):
        people = np.flatnonzero(dept == d)
        if len(people) == 0:
            continue
        candidates = people[stable[people]] if stable[people].any() else people
        k = min(max(1, round(len(people) / 8)), len(candidates))
        managers = rng.choice(candidates, size=k, replace=False)
        head = managers[0]
        is_manager[managers] = True
        staff = np.setdiff1d(people, managers)
        manager[staff] = managers[rng.integers(0, k, len(staff))]
        manager[managers] = head
        manager[head] = exec_office[1 + d % (len(exec_office) - 1)]
        is_manager[manager[head]] = True
    return manager, is_manager


def _moves(
    rng: np.random.Generator,
    dept0: np.ndarray,
    manager0: np.ndarray,
    is_manager: np.ndarray,
    snapshots: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Department and manager per snapshot: ~1% of staff move department each month."""
    big = len(DEPARTMENTS)
    department = np.empty((snapshots, len(dept0)), np.int16)
    manager = np.empty((snapshots, len(dept0)), np.int32)
    department[0], manager[0] = dept0, manager0
    managers_of = [np.flatnonzero(is_manager & (dept0 == d)) for d in range(big)]
    weights = np.array([w for _, w in DEPARTMENTS])
    for s in range(1, snapshots):
        department[s], manager[s] = department[s - 1], manager[s - 1]
        movable = np.flatnonzero(~is_manager & (department[s] < big))
        movers = movable[rng.random(len(movable)) < 0.01]
        target = rng.choice(big, size=len(movers), p=weights / weights.sum())
        target = np.where(target == department[s, movers], (target + 1) % big, target)
        for d in np.unique(target):
            if len(managers_of[d]) == 0:
                continue
            who = movers[target == d]
            department[s, who] = d
            manager[s, who] = managers_of[d][rng.integers(0, len(managers_of[d]), len(who))]
    return department, manager


def _emails(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """first.last@domain, numbered from the second person with the same name."""
    local = pd.Series(
        [f"{FIRST[f]}.{LAST[s]}".lower().translate(ASCII) for f, s in zip(first, last, strict=True)]
    )
    n = local.groupby(local).cumcount()
    suffix = np.where(n > 0, (n + 1).astype(str), "")
    return np.array([f"{a}{b}@{DOMAIN}" for a, b in zip(local, suffix, strict=True)], object)
