"""Approximate country centres (latitude, longitude) for the offline country map."""

from __future__ import annotations

COUNTRIES: dict[str, tuple[float, float]] = {
    "Argentina": (-34.6, -58.4), "Australia": (-25.3, 133.8), "Austria": (47.5, 14.6),
    "Belgium": (50.5, 4.5), "Brazil": (-14.2, -51.9), "Bulgaria": (42.7, 25.5),
    "Canada": (56.1, -106.3), "Chile": (-35.7, -71.5), "China": (35.9, 104.2),
    "Colombia": (4.6, -74.3), "Croatia": (45.1, 15.2), "Czechia": (49.8, 15.5),
    "Denmark": (56.3, 9.5), "Egypt": (26.8, 30.8), "Estonia": (58.6, 25.0),
    "Finland": (61.9, 25.7), "France": (46.2, 2.2), "Germany": (51.2, 10.5),
    "Greece": (39.1, 21.8), "Hong Kong": (22.3, 114.2), "Hungary": (47.2, 19.5),
    "India": (20.6, 79.0), "Indonesia": (-0.8, 113.9), "Ireland": (53.4, -8.2),
    "Israel": (31.0, 34.9), "Italy": (41.9, 12.6), "Japan": (36.2, 138.3),
    "Kenya": (-0.0, 37.9), "Latvia": (56.9, 24.6), "Lithuania": (55.2, 23.9),
    "Luxembourg": (49.8, 6.1), "Malaysia": (4.2, 102.0), "Mexico": (23.6, -102.6),
    "Morocco": (31.8, -7.1), "Netherlands": (52.1, 5.3), "New Zealand": (-40.9, 174.9),
    "Nigeria": (9.1, 8.7), "Norway": (60.5, 8.5), "Pakistan": (30.4, 69.3),
    "Peru": (-9.2, -75.0), "Philippines": (12.9, 121.8), "Poland": (51.9, 19.1),
    "Portugal": (39.4, -8.2), "Romania": (45.9, 25.0), "Saudi Arabia": (23.9, 45.1),
    "Serbia": (44.0, 21.0), "Singapore": (1.35, 103.8), "Slovakia": (48.7, 19.7),
    "Slovenia": (46.2, 15.0), "South Africa": (-30.6, 22.9), "South Korea": (35.9, 127.8),
    "Spain": (40.5, -3.7), "Sweden": (60.1, 18.6), "Switzerland": (46.8, 8.2),
    "Taiwan": (23.7, 121.0), "Thailand": (15.9, 101.0), "Turkey": (39.0, 35.2),
    "Ukraine": (48.4, 31.2), "United Arab Emirates": (23.4, 53.8),
    "United Kingdom": (55.4, -3.4), "United States": (37.1, -95.7), "Vietnam": (14.1, 108.3),
}

ALIASES = {
    "AR": "Argentina", "AU": "Australia", "AT": "Austria", "BE": "Belgium", "BR": "Brazil",
    "CA": "Canada", "CH": "Switzerland", "CN": "China", "CZ": "Czechia", "DE": "Germany",
    "DK": "Denmark", "ES": "Spain", "FI": "Finland", "FR": "France", "GB": "United Kingdom",
    "UK": "United Kingdom", "IE": "Ireland", "IN": "India", "IT": "Italy", "JP": "Japan",
    "MX": "Mexico", "NL": "Netherlands", "NO": "Norway", "NZ": "New Zealand", "PL": "Poland",
    "PT": "Portugal", "SE": "Sweden", "SG": "Singapore", "US": "United States",
    "USA": "United States", "ZA": "South Africa", "Czech Republic": "Czechia",
    "Great Britain": "United Kingdom", "Korea": "South Korea", "UAE": "United Arab Emirates",
    "United States of America": "United States", "Türkiye": "Turkey",
}
_FOLDED = {name.casefold(): name for name in COUNTRIES} | {
    alias.casefold(): name for alias, name in ALIASES.items()
}


def centroid(country: str) -> tuple[float, float] | None:
    """The (latitude, longitude) of a country name or ISO code, or None when unknown."""
    name = _FOLDED.get(country.strip().casefold())
    return COUNTRIES[name] if name else None
