"""Generated message text (bodies, rich bodies, titles, attachments) for the demo export.

Bodies exist only so the export files look real (quoted, multi-line, mentions, emoji); the
ingester must drop them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from demo.organisation import DEPARTMENTS, FIRST

POOL = 4096
TOOLS = ("claims portal", "quote engine", "CRM dashboard", "expense app", "Teams room kit",
         "fraud model", "pricing sheet", "broker portal")
EVENTS = ("town hall", "Q&A with the CEO", "lunch & learn", "wellbeing week", "hackathon",
          "charity run", "renewals sprint")
CITIES = ("London", "Dublin", "Stockholm", "Oslo", "Toronto", "Frankfurt", "Dubai", "Madrid")
TEMPLATES = (
    "Great result from the {dept} team this week: {n} claims closed ahead of target!",
    "Has anyone tried the new {tool}? Looking for tips before Friday.",
    "Morning all,\nQuick reminder that the {event} starts at {hour}:00.\nBring your questions!",
    "Thanks [[user:{uid}]] for the help with the {tool} rollout 🙌",
    "\"Customer first\" – {first} shared a lovely note from a policyholder today.",
    "Can someone from {dept} help with a tricky renewal, please? Details below.",
    "Welcome aboard, {first}! Tack så mycket for the warm welcome, everyone.",
    "Q{q} numbers are in: {n}% of cases resolved on first contact.",
    "Re: {event} – slides are on the intranet.\n\nhttps://intranet.harbourmutual.example/{n}",
    "Agree with this 👍",
    "Great point, thanks for sharing.",
    "We tried that in {city} last quarter; happy to compare notes with [[user:{uid}]].",
    "Does anyone know who owns the {tool} access requests?",
    "Proud of this team. {n} five-star reviews this month!",
    "+1, same experience here in {city}.",
    "Photos from the {event} in {city} are up, enjoy!",
    "Short survey on the {tool}, 2 minutes, all feedback welcome:\n- what works\n- what doesn't",
    "Congratulations {first}, well deserved! 🎉",
    "Has {dept} got a template for this? Asking for a colleague, \"urgently\".",
    "Reminder: complete your compliance training by the {n}th.",
)


@dataclass
class Bodies:
    """A pool of message texts; a message's text is picked by its id."""

    body: np.ndarray  # object
    html: np.ndarray  # object
    title: np.ndarray  # object
    attachments: np.ndarray  # object

    def pick(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Body, html body, title and attachments for messages with these ids."""
        at = (ids // 7) % POOL
        return self.body[at], self.html[at], self.title[at], self.attachments[at]


def build_bodies(yammer_ids: np.ndarray, seed: int) -> Bodies:
    """Render the pool once, mentioning real demo user ids."""
    rng = np.random.default_rng([seed, 3])
    template = rng.integers(0, len(TEMPLATES), POOL)
    body = np.array([
        TEMPLATES[k].format(
            dept=DEPARTMENTS[int(rng.integers(len(DEPARTMENTS)))][0],
            n=int(rng.integers(2, 99)),
            tool=TOOLS[int(rng.integers(len(TOOLS)))],
            event=EVENTS[int(rng.integers(len(EVENTS)))],
            hour=int(rng.integers(9, 17)),
            uid=int(yammer_ids[int(rng.integers(len(yammer_ids)))]),
            first=FIRST[int(rng.integers(len(FIRST)))],
            q=int(rng.integers(1, 5)),
            city=CITIES[int(rng.integers(len(CITIES)))],
        )
        for k in template
    ], object)
    html = np.array(["<p>" + b.replace("\n", "<br/>") + "</p>" for b in body], object)
    html[rng.random(POOL) < 0.6] = ""
    announce = np.array([f"Announcement: {EVENTS[i % len(EVENTS)]}" for i in range(POOL)], object)
    title = np.where(rng.random(POOL) < 0.05, announce, "").astype(object)
    kind = rng.random(POOL)
    ref = rng.integers(100_000_000, 1_400_000_000_000, POOL)
    attachments = np.array([
        f"uploadedfile:{r}" if u < 0.03 else
        f"opengraphobject:[{r} : https://news.harbourmutual.example/{r % 997} : title=\"News\" : "
        'description=""]' if u < 0.05 else ""
        for u, r in zip(kind, ref, strict=True)
    ], object)
    return Bodies(body, html, title, attachments)
