"""The demo year day by day: the adoption curve, reactions, reads, threads and replies."""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from demo.communities import Communities
from demo.organisation import ACTIVITY_ONLY, Organisation

DAY_S = 86_400
# per archetype: champion, regular, occasional, lurker
ENGAGE_RANGE = ((0.95, 0.99), (0.70, 0.90), (0.30, 0.60), (0.02, 0.08))
READ_P = np.array([0.99, 0.85, 0.60, 0.75])
EXTRA_REACTIONS = np.array([3.0, 1.3, 0.8, 0.3])
REPLY_P = np.array([0.60, 0.33, 0.25, 0.15])
POST_P = np.array([0.30, 0.10, 0.07, 0.03])
MANAGER_REPLY_P, MANAGER_POST_P = 0.50, 0.05  # managers join conversations, rarely lead them
WEEKEND, HOLIDAY = 0.12, 0.35
ADOPTION_START, ADOPTION_DAYS = 0.35, 90.0
SAME_DEPARTMENT = 0.72
DM_SHARE, DM_REPLY = 0.06, 0.5
DELETED_SHARE, SYSTEM_SHARE = 0.015, 0.15
THREAD_DAYS = 3  # replies go to threads started today or in the two days before
FIRST_MESSAGE_ID = 1_426_527_352_569_856

# message kinds
POST, REPLY, DM, DM_REPLY_KIND, SYSTEM = range(5)


@dataclass
class DayFacts:
    """One day's Graph report rows: every member with their counts for that UTC day."""

    t: int
    people: np.ndarray  # int32 person indices
    posted: np.ndarray  # int32
    read: np.ndarray  # int32
    liked: np.ndarray  # int32
    last_active: np.ndarray  # int32 day index of the last activity up to t, -1 if none


@dataclass
class MessageLog:
    """Every message of the year in time order (global index = row)."""

    ids: np.ndarray  # int64 16-digit message ids, increasing with time
    sender: np.ndarray  # int32 person
    created: np.ndarray  # int64 seconds since launch 00:00 UTC
    kind: np.ndarray  # int8 POST, REPLY, DM, DM_REPLY_KIND, SYSTEM
    thread: np.ndarray  # int64 row of the thread starter
    replied_to: np.ndarray  # int64 row, -1 for starters
    group: np.ndarray  # int16 community, -1 for private conversations
    recipient: np.ndarray  # int32 the other participant of a private conversation, -1
    deleted: np.ndarray  # int64 seconds since launch, -1 when never deleted

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Summary:
    """Daily member, engaged and active counts as the generator made them (for checks)."""

    members: np.ndarray
    engaged: np.ndarray
    active: np.ndarray
    weekday: np.ndarray  # bool

    def weekday_share(self, last: int = 28) -> float:
        """Median engaged share over the weekdays of the last `last` days."""
        share = self.engaged / np.maximum(self.members, 1)
        recent = np.arange(len(share)) >= len(share) - last
        return float(np.median(share[recent & self.weekday]))


class Simulation:
    """Generates the year one day at a time, vectorised over people."""

    def __init__(self, org: Organisation, groups: Communities, seed: int):
        self.org = org
        self.groups = groups
        self.rng = np.random.default_rng([seed, 1])
        n = org.size
        lo, hi = np.array(ENGAGE_RANGE).T
        u = self.rng.random(n)
        self.engage_p = lo[org.archetype] + u * (hi - lo)[org.archetype]
        self.engage_p[org.is_manager] = np.minimum(self.engage_p[org.is_manager] + 0.05, 0.99)
        self.read_p = READ_P[org.archetype]
        self.reply_p = np.where(org.is_manager, MANAGER_REPLY_P, REPLY_P[org.archetype])
        self.post_p = np.where(org.is_manager, MANAGER_POST_P, POST_P[org.archetype])
        self.extra_reactions = EXTRA_REACTIONS[org.archetype]
        self.last_active = np.full(n, -1, np.int32)
        self._recent: deque[dict[str, np.ndarray]] = deque(maxlen=THREAD_DAYS - 1)
        self._chunks: list[dict[str, np.ndarray]] = []
        self._count = 0

    def run(self, on_day: Callable[[DayFacts], None] | None = None) -> tuple[MessageLog, Summary]:
        """Simulate every day, handing each day's report rows to `on_day`."""
        days = self.org.days
        members, engaged, active = (np.zeros(days, np.int32) for _ in range(3))
        for t in range(days):
            facts = self._day(t)
            members[t] = len(facts.people)
            engaged[t] = int(((facts.posted > 0) | (facts.liked > 0)).sum())
            active[t] = int(((facts.posted > 0) | (facts.liked > 0) | (facts.read > 0)).sum())
            if on_day is not None:
                on_day(facts)
        weekday = np.array([self.org.day(t).weekday() < 5 for t in range(days)])
        return self._log(), Summary(members, engaged, active, weekday)

    def _factor(self, t: int) -> float:
        """Organisation-wide adoption × weekday × holiday factor of day t."""
        day = self.org.day(t)
        adoption = ADOPTION_START + (1 - ADOPTION_START) * (1 - np.exp(-t / ADOPTION_DAYS))
        weekly = WEEKEND if day.weekday() >= 5 else 1.0
        holiday = HOLIDAY if (day.month, day.day) >= (12, 24) or day <= dt.date(
            day.year, 1, 1
        ) else 1.0
        return float(adoption * weekly * holiday)

    def _day(self, t: int) -> DayFacts:
        org, rng = self.org, self.rng
        people = np.flatnonzero(org.members_on(t)).astype(np.int32)
        n = len(people)
        factor = self._factor(t)
        tenure = 1 - 0.5 * np.exp(-(t - org.start_day[people]) / 14.0)
        engaged = rng.random(n) < np.minimum(self.engage_p[people] * factor * tenure, 0.98)
        debut = (org.kind[people] == ACTIVITY_ONLY) & (org.start_day[people] == t)
        engaged |= debut
        e = people[engaged]
        k = len(e)
        reactions = np.where(rng.random(k) < 0.88, 1 + rng.poisson(self.extra_reactions[e]), 0)
        replies = np.where(rng.random(k) < self.reply_p[e], 1 + rng.poisson(0.3, k), 0)
        posts = np.where(rng.random(k) < self.post_p[e], 1 + rng.poisson(0.1, k), 0)
        posts = np.where(debut[engaged], np.maximum(posts, 1), posts)
        reads = np.where(
            engaged,
            0,
            np.where(rng.random(n) < self.read_p[people] * factor, 1 + rng.poisson(1.0, n), 0),
        )
        reads[engaged] = 1 + rng.poisson(2.5, k)

        sent = self._messages(t, people, e, posts, replies)
        posted = np.bincount(sent, minlength=org.size)[people].astype(np.int32)
        liked = np.zeros(n, np.int32)
        liked[engaged] = reactions
        lost = engaged & (posted == 0) & (liked == 0)  # only had replies, and no thread to answer
        liked[lost] = 1
        reads = np.where((posted > 0) | (liked > 0), np.maximum(reads, 1), reads).astype(np.int32)
        any_activity = (posted > 0) | (liked > 0) | (reads > 0)
        self.last_active[people[any_activity]] = t
        return DayFacts(t, people, posted, reads, liked, self.last_active[people].copy())

    def _times(self, k: int) -> np.ndarray:
        """Seconds of the day, mostly office hours."""
        hours = np.clip(self.rng.normal(12.5, 2.6, k), 6.0, 21.5)
        return (hours * 3600).astype(np.int64)

    def _messages(
        self, t: int, people: np.ndarray, e: np.ndarray, posts: np.ndarray, replies: np.ndarray
    ) -> np.ndarray:
        """Create the day's messages; returns the senders of the counted (non-system) ones."""
        org, rng = self.org, self.rng
        dept = org.department[org.snapshot_of(t)]
        joined_today = org.join_day == t

        starters = np.repeat(e, posts).astype(np.int32)
        s_time = self._times(len(starters))
        s_time = np.maximum(
            s_time, np.where(joined_today[starters], org.join_second[starters] + 60, 0)
        )
        is_dm = rng.random(len(starters)) < DM_SHARE
        recipient = people[rng.integers(0, max(len(people), 1), len(starters))]
        is_dm &= recipient != starters
        recipient = np.where(is_dm, recipient, -1).astype(np.int32)
        group = self._pick_groups(t, starters, dept)
        group = np.where(is_dm, -1, group).astype(np.int16)

        public = np.flatnonzero(~is_dm)
        cand = {
            "row": np.concatenate([r["row"] for r in self._recent] + [-(public + 1)]),
            "sender": np.concatenate([r["sender"] for r in self._recent] + [starters[public]]),
            "dept": np.concatenate([r["dept"] for r in self._recent] + [dept[starters[public]]]),
            "time": np.concatenate([r["time"] for r in self._recent] + [s_time[public]]),
            "group": np.concatenate([r["group"] for r in self._recent] + [group[public]]),
            "today": np.concatenate([np.zeros(len(r["row"]), bool) for r in self._recent]
                                    + [np.ones(len(public), bool)]),
        }
        repliers = np.repeat(e, replies).astype(np.int32)
        if len(cand["row"]) == 0:
            repliers = repliers[:0]
        choice = self._pick_threads(repliers, dept, cand)
        r_thread = cand["row"][choice]
        r_time = np.where(
            cand["today"][choice],
            np.minimum(cand["time"][choice] + 60 + rng.exponential(4000, len(choice)), DAY_S - 1),
            self._times(len(choice)),
        ).astype(np.int64)
        late = joined_today[repliers]
        r_time[late] = np.minimum(np.maximum(r_time[late], org.join_second[repliers[late]] + 120),
                                  DAY_S - 1)

        dms = np.flatnonzero(is_dm & (rng.random(len(starters)) < DM_REPLY))
        d_time = np.minimum(s_time[dms] + 60 + rng.exponential(3000, len(dms)), DAY_S - 1)

        announcers = np.flatnonzero(joined_today)
        announcers = announcers[rng.random(len(announcers)) < SYSTEM_SHARE]

        local = np.arange(len(starters))
        chunk = {
            "sender": np.concatenate([starters, repliers, recipient[dms], announcers]),
            "created": np.concatenate(
                [s_time, r_time, d_time.astype(np.int64), org.join_second[announcers] + 5]
            ),
            "kind": np.concatenate([
                np.where(is_dm, DM, POST), np.full(len(repliers), REPLY),
                np.full(len(dms), DM_REPLY_KIND), np.full(len(announcers), SYSTEM),
            ]).astype(np.int8),
            # >= 0: row of an earlier day; < 0: -(1 + today's local index)
            "thread": np.concatenate([-(local + 1), r_thread, -(dms + 1),
                                      -(len(starters) + len(repliers) + len(dms)
                                        + np.arange(len(announcers)) + 1)]),
            "group": np.concatenate([
                group, cand["group"][choice],
                np.full(len(dms), -1), np.zeros(len(announcers)),
            ]).astype(np.int16),
            "recipient": np.concatenate([recipient, np.full(len(repliers), -1),
                                         starters[dms], np.full(len(announcers), -1)]),
        }
        self._commit(t, chunk, public, dept)
        return chunk["sender"][chunk["kind"] != SYSTEM]

    def _pick_groups(self, t: int, starters: np.ndarray, dept: np.ndarray) -> np.ndarray:
        """All Company, the starter's department community, or an open interest community."""
        rng, groups = self.rng, self.groups
        u = rng.random(len(starters))
        own = groups.department_group[dept[starters]]
        interests = groups.interests_open_on(t)
        interest = interests[rng.integers(0, len(interests), len(starters))]
        group = np.where(u < 0.25, 0, np.where(u < 0.70, own, interest))
        return np.where(group < 0, 0, group)

    def _pick_threads(
        self, repliers: np.ndarray, dept: np.ndarray, cand: dict[str, np.ndarray]
    ) -> np.ndarray:
        """Mostly a thread from the replier's own department, never (after one retry) their own."""
        rng = self.rng
        c = len(cand["row"])
        if len(repliers) == 0:
            return np.zeros(0, np.int64)
        order = np.argsort(cand["dept"], kind="stable")
        sizes = np.bincount(cand["dept"], minlength=len(self.org.department_names))
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        mine = dept[repliers]
        own = (rng.random(len(repliers)) < SAME_DEPARTMENT) & (sizes[mine] > 0)
        within = (rng.random(len(repliers)) * np.maximum(sizes[mine], 1)).astype(np.int64)
        pick = order[np.minimum(starts[mine] + within, c - 1)]
        choice = np.where(own, pick, rng.integers(0, c, len(repliers)))
        again = cand["sender"][choice] == repliers
        choice[again] = rng.integers(0, c, int(again.sum()))
        return choice

    def _commit(self, t: int, chunk: dict[str, np.ndarray], public: np.ndarray,
                dept: np.ndarray) -> None:
        """Sort the day's messages by time, give them global rows, remember today's threads."""
        order = np.argsort(chunk["created"], kind="stable")
        position = np.empty_like(order)
        position[order] = np.arange(len(order))
        rows = self._count + position
        today = chunk["thread"] < 0
        thread = np.where(today, rows[np.where(today, -chunk["thread"] - 1, 0)], chunk["thread"])
        kind = chunk["kind"]
        replied_to = np.where(np.isin(kind, (REPLY, DM_REPLY_KIND)), thread, -1)
        created = chunk["created"] + t * DAY_S
        end = self.org.days * DAY_S
        gone = self.rng.random(len(order)) < DELETED_SHARE
        deleted = np.where(gone, created + 60 + self.rng.exponential(1.5 * DAY_S, len(order)), -1)
        deleted = np.where(deleted >= end, -1, deleted).astype(np.int64)
        self._chunks.append({
            "sender": chunk["sender"][order].astype(np.int32),
            "created": created[order].astype(np.int64),
            "kind": kind[order],
            "thread": thread[order].astype(np.int64),
            "replied_to": replied_to[order].astype(np.int64),
            "group": chunk["group"][order],
            "recipient": chunk["recipient"][order].astype(np.int32),
            "deleted": deleted[order],
        })
        starters = rows[public]
        self._recent.append({
            "row": starters.astype(np.int64),
            "sender": chunk["sender"][public].astype(np.int32),
            "dept": dept[chunk["sender"][public]],
            "time": chunk["created"][public],
            "group": chunk["group"][public],
        })
        self._count += len(order)

    def _log(self) -> MessageLog:
        cols = {k: np.concatenate([c[k] for c in self._chunks]) for k in self._chunks[0]}
        gaps = self.rng.integers(1, 1 << 20, len(cols["sender"]))
        return MessageLog(ids=FIRST_MESSAGE_ID + np.cumsum(gaps).astype(np.int64), **cols)

