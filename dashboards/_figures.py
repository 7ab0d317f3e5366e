"""Pure figure functions: a small DataFrame in, a plotly figure out (no data access here)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboards._geo import centroid

GRID = {"gridcolor": "#e9ecef", "zerolinecolor": "#ced4da", "linecolor": "#ced4da"}
# A small template: plotly's named templates are deep-copied per figure (≈30 ms each).
TEMPLATE = {"layout": {"paper_bgcolor": "white", "plot_bgcolor": "white", "xaxis": GRID,
                       "yaxis": GRID}}
COLORS = ("#2c6fbb", "#e07b39", "#3a9d5d", "#8e5fb5", "#c0392b", "#7f8c8d")
HIDDEN = "hidden"
SPARK = "▁▂▃▄▅▆▇█"


def _layout(fig: go.Figure, *, percent: bool = False, legend: bool = True) -> go.Figure:
    fig.update_layout(
        margin={"l": 48, "r": 16, "t": 16, "b": 40},
        legend={"orientation": "h", "y": -0.18, "x": 0},
        showlegend=legend,
        hovermode="x unified",
        font={"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
    )
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    if percent:
        fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return fig


def _new(trace: go.BaseTraceType) -> go.Figure:
    return go.Figure(trace, layout={"template": TEMPLATE})


def empty_figure(message: str) -> go.Figure:
    """A blank chart that says why it is blank."""
    fig = go.Figure(layout={"template": TEMPLATE})
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 14, "color": "#6c757d"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, legend=False)


def share_trend_figure(frame: pd.DataFrame, target: float | None, x: str = "day",
                       y: str = "engaged_share") -> go.Figure:
    """Daily engaged share, its 7-day average and the target line."""
    if frame.empty:
        return empty_figure("No data in this range")
    data = frame.sort_values(x)
    days = pd.to_datetime(data[x])
    share = pd.Series(data[y].to_numpy(dtype=float), index=days)
    average = share.rolling("7D", min_periods=7).mean()
    fig = go.Figure(layout={"template": TEMPLATE})
    fig.add_trace(go.Scatter(x=days, y=share.to_numpy(), name="Daily", mode="lines",
                             line={"color": COLORS[0], "width": 1}, opacity=0.45))
    fig.add_trace(go.Scatter(x=days, y=average.to_numpy(), name="7-day average", mode="lines",
                             line={"color": COLORS[0], "width": 3}))
    if target is not None:
        fig.add_hline(y=target, line_dash="dash", line_color=COLORS[4],
                      annotation_text=f"target {target:.0%}", annotation_position="top left")
    return _layout(fig, percent=True)


def lines_figure(frame: pd.DataFrame, x: str, series: Mapping[str, str],
                 percent: bool = False) -> go.Figure:
    """One line per column in `series` (column → label) against `x`."""
    if frame.empty:
        return empty_figure("No data in this range")
    data = frame.sort_values(x)
    fig = go.Figure(layout={"template": TEMPLATE})
    for i, (column, label) in enumerate(series.items()):
        if column in data.columns:
            fig.add_trace(go.Scatter(x=data[x], y=data[column], name=label, mode="lines",
                                     line={"color": COLORS[i % len(COLORS)], "width": 2}))
    return _layout(fig, percent=percent)


def group_lines_figure(frame: pd.DataFrame, x: str, y: str, group: str = "group",
                       percent: bool = True) -> go.Figure:
    """One line per group (suppressed points are gaps)."""
    if frame.empty:
        return empty_figure("No data in this range")
    fig = go.Figure(layout={"template": TEMPLATE})
    for i, (name, part) in enumerate(frame.sort_values(x).groupby(group, sort=True)):
        fig.add_trace(go.Scatter(x=part[x], y=part[y], name=str(name), mode="lines",
                                 line={"color": COLORS[i % len(COLORS)], "width": 2}))
    return _layout(fig, percent=percent)


def mix_figure(frame: pd.DataFrame, x: str, kinds: Mapping[str, str]) -> go.Figure:
    """Stacked bars of activity kinds (posts, replies, reactions, reads) per period."""
    if frame.empty:
        return empty_figure("No activity in this range")
    data = frame.sort_values(x)
    fig = go.Figure(layout={"template": TEMPLATE})
    for i, (column, label) in enumerate(kinds.items()):
        fig.add_trace(go.Bar(x=data[x], y=data[column], name=label,
                             marker_color=COLORS[i % len(COLORS)]))
    fig.update_layout(barmode="stack")
    return _layout(fig)


def heatmap_figure(frame: pd.DataFrame, x: str, y: str, z: str, percent: bool = True,
                   flag: str = "suppressed") -> go.Figure:
    """A group × period heatmap; withheld cells are blank and labelled “hidden”."""
    if frame.empty:
        return empty_figure("No data in this range")
    data = frame.copy()
    hidden = data[flag].fillna(False).astype(bool) if flag in data.columns else False
    values = data.pivot_table(index=y, columns=x, values=z, aggfunc="first", dropna=False)
    values = values.reindex(sorted(values.index, key=str, reverse=True))
    mask = pd.Series(hidden, index=data.index) if flag in data.columns else None
    labels = values.map(lambda v: "" if pd.isna(v) else (f"{v:.0%}" if percent else f"{v:,.0f}"))
    if mask is not None:
        withheld = data.loc[mask.to_numpy(), [y, x]]
        for row_key, col_key in withheld.itertuples(index=False):
            if row_key in labels.index and col_key in labels.columns:
                labels.loc[row_key, col_key] = HIDDEN
    fig = _new(go.Heatmap(
        z=values.to_numpy(dtype=float), x=list(values.columns), y=[str(v) for v in values.index],
        text=labels.to_numpy(), texttemplate="%{text}", colorscale="Blues", hoverongaps=False,
        zmin=0, zmax=(1 if percent else None),
        colorbar={"tickformat": ".0%" if percent else ",.0f"},
    ))
    fig.update_layout(hovermode="closest")
    return _layout(fig, legend=False)


def bar_figure(frame: pd.DataFrame, category: str, value: str, percent: bool = True,
               flag: str = "suppressed") -> go.Figure:
    """Horizontal bars per category; withheld categories show “hidden” instead of a bar."""
    if frame.empty:
        return empty_figure("No data in this range")
    data = frame.sort_values(value, na_position="first")
    hidden = data[flag].fillna(False).astype(bool) if flag in data.columns else None
    text = [
        HIDDEN if (hidden is not None and h) else ("" if pd.isna(v) else
                                                   (f"{v:.0%}" if percent else f"{v:,.0f}"))
        for v, h in zip(data[value], hidden if hidden is not None else [False] * len(data),
                        strict=True)
    ]
    fig = _new(go.Bar(x=data[value].fillna(0), y=data[category].astype(str),
                           orientation="h", text=text, textposition="auto",
                           marker_color=COLORS[0]))
    if percent:
        fig.update_xaxes(tickformat=".0%", rangemode="tozero")
    fig.update_layout(hovermode="closest")
    return _layout(fig, legend=False)


def funnel_figure(stages: Sequence[str], values: Sequence[float]) -> go.Figure:
    """A funnel of people through adoption stages."""
    if not stages:
        return empty_figure("No data in this range")
    fig = _new(go.Funnel(y=list(stages), x=list(values), textinfo="value+percent initial",
                              marker={"color": COLORS[0]}))
    fig.update_layout(hovermode="closest")
    return _layout(fig, legend=False)


def country_map_figure(frame: pd.DataFrame, country: str = "group", size: str = "members",
                       value: str = "engaged_share", flag: str = "suppressed") -> go.Figure:
    """Countries as bubbles at their approximate centre (members → size, share → colour).

    Drawn on plain longitude/latitude axes so no map tiles or shapes are fetched from the web.
    """
    rows = []
    for record in frame.to_dict("records"):
        point = centroid(str(record[country]))
        if point is not None:
            rows.append((record, *point))
    if not rows:
        return empty_figure("No known countries in this range")
    records, lats, lons = zip(*rows, strict=True)
    sizes = np.array([float(r[size] or 0) for r in records])
    shares = [r.get(value) for r in records]
    hidden = [bool(r.get(flag)) for r in records]
    labels = [
        f"{r[country]}: {HIDDEN}" if h else f"{r[country]}: {s:.0%}" if s is not None
        and not (isinstance(s, float) and math.isnan(s)) else str(r[country])
        for r, s, h in zip(records, shares, hidden, strict=True)
    ]
    scale = 40 / math.sqrt(sizes.max()) if sizes.max() > 0 else 1
    fig = _new(go.Scatter(
        x=lons, y=lats, mode="markers+text", text=labels, textposition="top center",
        marker={"size": np.sqrt(sizes) * scale + 6,
                "color": [np.nan if h else s for s, h in zip(shares, hidden, strict=True)],
                "colorscale": "Blues", "cmin": 0, "cmax": 1, "showscale": True,
                "colorbar": {"tickformat": ".0%"}, "line": {"color": "#495057", "width": 1}},
        hovertext=[f"{lab} · {int(n):,} members" for lab, n in zip(labels, sizes, strict=True)],
        hoverinfo="text",
    ))
    fig.update_xaxes(range=[-180, 180], title="longitude", showgrid=True, zeroline=False)
    fig.update_yaxes(range=[-60, 80], title="latitude", showgrid=True, zeroline=False)
    fig.update_layout(hovermode="closest")
    return _layout(fig, legend=False)


def sparkline(values: Sequence[float | None]) -> str:
    """A text sparkline (▁…█) of a short series; withheld points are spaces."""
    clean = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not clean:
        return ""
    lo, hi = min(clean), max(clean)
    span = hi - lo or 1.0
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(" ")
        else:
            out.append(SPARK[min(len(SPARK) - 1, int((v - lo) / span * (len(SPARK) - 1) + 0.5))])
    return "".join(out)


def stage_bars_figure(frame: pd.DataFrame, category: str, stages: Mapping[str, str],
                      flag: str = "suppressed") -> go.Figure:
    """Grouped horizontal bars: one bar per funnel stage (column → label) for each category."""
    if frame.empty:
        return empty_figure("No data in this range")
    data = frame.sort_values(category, ascending=False)
    hidden = data[flag].fillna(False).astype(bool).to_numpy() if flag in data.columns else None
    fig = go.Figure(layout={"template": TEMPLATE})
    for i, (column, label) in enumerate(stages.items()):
        values = data[column].to_numpy(dtype=float)
        text = [HIDDEN if (hidden is not None and h and np.isnan(v)) else
                ("" if np.isnan(v) else f"{v:,.0f}")
                for v, h in zip(values, hidden if hidden is not None else [False] * len(values),
                                strict=True)]
        fig.add_trace(go.Bar(x=np.nan_to_num(values), y=data[category].astype(str), name=label,
                             orientation="h", text=text, textposition="auto",
                             marker_color=COLORS[i % len(COLORS)]))
    fig.update_layout(barmode="group", hovermode="closest")
    return _layout(fig)


def columns_figure(frame: pd.DataFrame, x: str, y: str, target: float | None = None,
                   flag: str = "suppressed") -> go.Figure:
    """Vertical bars in the frame's order (e.g. months), percent axis and an optional target."""
    if frame.empty:
        return empty_figure("No data in this range")
    values = frame[y].to_numpy(dtype=float)
    hidden = frame[flag].fillna(False).astype(bool).to_numpy() if flag in frame.columns else \
        np.zeros(len(frame), dtype=bool)
    text = [HIDDEN if h else ("" if np.isnan(v) else f"{v:.0%}")
            for v, h in zip(values, hidden, strict=True)]
    fig = _new(go.Bar(x=frame[x].astype(str), y=np.nan_to_num(values), text=text,
                           textposition="outside", marker_color=COLORS[0]))
    if target is not None:
        fig.add_hline(y=target, line_dash="dash", line_color=COLORS[4],
                      annotation_text=f"target {target:.0%}", annotation_position="top left")
    fig.update_layout(hovermode="closest")
    return _layout(fig, percent=True, legend=False)
