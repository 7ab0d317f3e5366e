"""Pure figure and sentence functions: small frames in, exact figure data out."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from dashboards import _figures as fig
from dashboards._components import hidden_note
from dashboards._summary import (
    points,
    reported_month,
    share_sentence,
    shift_month,
    typical_weekday_share,
)


def test_share_trend_has_a_seven_day_average_and_the_target() -> None:
    days = pd.date_range("2025-03-01", periods=8, freq="D")
    shares = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, np.nan]
    figure = fig.share_trend_figure(pd.DataFrame({"day": days, "engaged_share": shares}), 0.5)
    daily, average = figure.data
    assert list(daily.y[:7]) == pytest.approx(shares[:7]) and np.isnan(daily.y[7])
    assert np.isnan(average.y[:6]).all()
    assert average.y[6] == pytest.approx(0.4)  # mean of 0.1 … 0.7
    assert np.isnan(average.y[7])  # a window with a hidden day has no 7-day average
    assert figure.layout.shapes[0].y0 == 0.5


def test_heatmap_labels_withheld_cells_hidden() -> None:
    frame = pd.DataFrame({
        "period": ["2025-03-03", "2025-03-03", "2025-03-10", "2025-03-10"],
        "group": ["Ops", "Tiny", "Ops", "Tiny"],
        "engaged_share": [0.25, np.nan, 0.5, 0.75],
        "suppressed": [False, True, False, False],
    })
    heat = fig.heatmap_figure(frame, "period", "group", "engaged_share").data[0]
    assert list(heat.y) == ["Tiny", "Ops"]
    assert [list(r) for r in heat.text] == [["hidden", "75%"], ["25%", "50%"]]
    assert np.isnan(heat.z[0][0]) and heat.z[1][1] == 0.5


def test_bars_and_columns_show_hidden_instead_of_a_value() -> None:
    frame = pd.DataFrame({"group": ["A", "B"], "engaged_share": [0.4, np.nan],
                          "suppressed": [False, True]})
    bars = fig.bar_figure(frame, "group", "engaged_share").data[0]
    assert dict(zip(bars.y, bars.text, strict=True)) == {"A": "40%", "B": "hidden"}
    months = pd.DataFrame({"month": ["2025-01", "2025-02"], "engaged_share": [0.3, np.nan],
                           "suppressed": [False, True]})
    columns = fig.columns_figure(months, "month", "engaged_share", 0.5).data[0]
    assert list(columns.x) == ["2025-01", "2025-02"] and list(columns.text) == ["30%", "hidden"]


def test_country_map_places_known_countries_offline() -> None:
    frame = pd.DataFrame({"group": ["United Kingdom", "Atlantis", "SE"],
                          "members": [100, 50, 25], "engaged_share": [0.5, 0.2, np.nan],
                          "suppressed": [False, False, True]})
    points_ = fig.country_map_figure(frame).data[0]
    assert list(points_.text) == ["United Kingdom: 50%", "SE: hidden"]
    assert (list(points_.y), list(points_.x)) == ([55.4, 60.1], [-3.4, 18.6])
    assert fig.country_map_figure(frame.iloc[1:2]).layout.annotations[0].text == \
        "No known countries in this range"


def test_sparkline_and_empty_figure() -> None:
    assert fig.sparkline([0.0, 0.5, 1.0]) == "▁▅█"
    assert fig.sparkline([0.2, np.nan, 0.2]) == "▁ ▁"
    assert fig.sparkline([]) == ""
    assert fig.empty_figure("No data").layout.annotations[0].text == "No data"


def test_hidden_note_names_groups_and_how_often() -> None:
    frame = pd.DataFrame({"group": ["A", "A", "B", "B", "C"],
                          "suppressed": [True, True, True, False, False]})
    note = hidden_note(frame, 5)
    assert note.children[0].children == "hidden: fewer than 5 people"
    assert note.children[1] == " — A, B (1 of 2 periods)"
    assert hidden_note(frame.assign(suppressed=False), 5) is None


def test_sentences_and_months() -> None:
    assert points(0.04) == "up 4 points" and points(-0.015) == "down 1.5 points"
    assert points(0.01) == "up 1 point" and points(0.0004) == "unchanged"
    assert share_sentence(0.52, "2024-10", 0.48) == (
        "52% of members engaged on a typical weekday in October 2024, up 4 points on September.")
    assert share_sentence(None, "2024-10", 0.48) == "Not enough data to describe October 2024."
    assert shift_month("2024-01", -1) == "2023-12" and shift_month("2024-12", 1) == "2025-01"
    assert reported_month(dt.date(2024, 10, 31)) == "2024-10"
    assert reported_month(dt.date(2024, 11, 5)) == "2024-10"
    days = pd.date_range("2024-10-04", "2024-10-07", freq="D")  # Fri, Sat, Sun, Mon
    daily = pd.DataFrame({"day": days, "engaged_share": [0.5, 0.9, 0.9, 0.3]})
    assert typical_weekday_share(daily, "2024-10") == pytest.approx(0.4)
