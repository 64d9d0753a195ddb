"""The pages' pure parts: every template compiles, numbers are shown one way, and the chart's
geometry puts the data and the threshold lines where they belong."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import jinja2
import pytest

from api.page_headers import CSP
from api.pages import formatting
from api.pages.charts import HEIGHT, LEFT, TOP, WIDTH, gauge, usage_chart
from api.pages.web import TEMPLATES

GIB = 1024**3
T0 = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)


def test_every_template_compiles_with_the_pages_filters():
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    env.filters.update({"bytes": formatting.human_bytes, "percent": formatting.percent,
                        "when": formatting.when, "iso": formatting.iso})  # fmt: skip
    names = [str(p.relative_to(TEMPLATES)) for p in Path(TEMPLATES).rglob("*.html")]
    assert len(names) >= 10
    for name in names:
        env.get_template(name)


def test_the_csp_allows_this_origin_only():
    assert "default-src 'self'" in CSP and "frame-ancestors 'none'" in CSP
    assert "unsafe" not in CSP and "http" not in CSP and "*" not in CSP


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "—"), (0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (10 * GIB, "10.0 GiB"), (-2 * 1024**2, "-2.0 MiB")],
)
def test_byte_counts_are_shown_in_binary_units(value, shown):
    assert formatting.human_bytes(value) == shown


def test_times_are_shown_in_utc():
    local = dt.datetime(2026, 11, 28, 15, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert formatting.when(local) == "2026-11-28 13:05 UTC"
    assert formatting.when("2026-11-28T13:05:00+00:00") == "2026-11-28 13:05 UTC"
    assert formatting.when(None) == "—"


def test_the_chart_places_points_and_threshold_lines_on_one_scale():
    series = [(T0 + dt.timedelta(days=d), int(GIB * (4 + d * 0.1))) for d in range(21)]
    chart = usage_chart(series, title="t", limit_bytes=10 * GIB, warning_percent=80, critical_percent=90)
    assert not chart.empty and len(chart.dots) == 21
    xs = [x for x, _ in chart.dots]
    assert xs[0] == LEFT and xs[-1] == WIDTH - 16 and xs == sorted(xs)
    lines = {line.kind: line.y for line in chart.lines}
    assert set(lines) == {"warning", "critical", "full"}
    assert TOP <= lines["full"] < lines["critical"] < lines["warning"] < HEIGHT
    bottom = HEIGHT - 36
    # 8 GiB (80 % of 10 GiB) sits at 80 % of the way from the axis to the full line.
    assert (bottom - lines["warning"]) / (bottom - lines["full"]) == pytest.approx(0.8, abs=0.01)
    ys = [y for _, y in chart.dots]
    assert ys == sorted(ys, reverse=True)  # growing usage climbs
    assert "21 points over 20 days" in chart.description


def test_the_chart_draws_a_forecast_and_handles_unlimited_and_empty_histories():
    series = [(T0, 5 * GIB), (T0 + dt.timedelta(days=1), 6 * GIB)]
    forecast = [(T0 + dt.timedelta(days=5), 10 * GIB)]
    with_forecast = usage_chart(series, title="t", limit_bytes=10 * GIB, warning_percent=80, critical_percent=90,
                                forecast=forecast)  # fmt: skip
    assert with_forecast.forecast.count(",") == 2 and "forecast" in with_forecast.description
    unlimited = usage_chart(series, title="t", limit_bytes=None, warning_percent=80, critical_percent=90)
    assert unlimited.lines == () and "unlimited" in unlimited.description
    assert usage_chart([], title="t", limit_bytes=None, warning_percent=80, critical_percent=90).empty


def test_the_gauge_clamps_and_marks_the_thresholds():
    full = gauge(104.0, "critical", 80, 90)
    assert full.fill == 300 and full.warning_x == 240 and full.critical_x == 270 and full.label == "104.0 % used"
    assert gauge(None, "normal", 80, 90).label == "Unlimited storage"


def test_threshold_labels_never_overlap_when_the_lines_are_close():
    series = [(T0, 9 * GIB), (T0 + dt.timedelta(days=1), int(9.2 * GIB))]
    chart = usage_chart(series, title="t", limit_bytes=10 * GIB, warning_percent=96, critical_percent=98)
    label_ys = [line.label_y for line in chart.lines]
    assert all(b - a >= 12 for a, b in itertools.pairwise(label_ys))


def test_forecasts_are_said_in_words():
    from api.pages.views import eta_text
    from driveguard.storage.trends import Eta

    soon = Eta("warning", 80.0, 8 * GIB, "forecast", 17.4, dt.date(2026, 12, 15), None)
    assert eta_text(soon) == "in about 17 days, around 2026-12-15"
    assert eta_text(Eta("full", 100.0, None, "unknown", None, None, "flat")) == "unknown: usage is flat"
    assert eta_text(Eta("critical", 90.0, 9 * GIB, "reached", 0.0, dt.date(2026, 12, 1), None)) == "reached"
