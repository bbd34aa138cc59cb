/*
 * The reef page, live: a uPlot chart in every figure.chart (mean line, min-max band, gaps as
 * gaps, buckets holding suspect or left-out values marked), times on the reef's own clock, and
 * the verdict and current values kept current from /api/reefs/<id>.
 *
 * The charts read pre-aggregated roll-ups (one point per bucket), so a year costs about what a
 * day costs to fetch and draw. Everything else on the page is server-rendered and works without
 * this script.
 */
"use strict";

(function () {
  const { el, showStatus, ageElement, loadAsset } = window.nemopi;
  const UPLOT = "vendor/uplot-1.6.32/";
  const DEFAULT_WINDOW = "24h";
  const LIVE_WINDOW = "24h";
  const PLOT_HEIGHT_PX = 200;
  const CHART_NEAR_PX = 300; // a chart's series is fetched when it scrolls this near
  const MARK_PX = 5;
  const COLOURS = {
    mean: "#0b5c8a",
    band: "rgba(11, 92, 138, 0.18)",
    edge: "rgba(11, 92, 138, 0.45)",
    suspect: "#b86e00",
    bad: "#b3261e",
  };
  const PERIOD_WORDS = { 600: "10 min", 3600: "hour", 21600: "6 h", 86400: "day" };

  /** Seconds since the epoch -> a Date whose local fields read as the reef's wall clock. */
  function reefClock(timezone, utcOffset) {
    try {
      new Intl.DateTimeFormat("en", { timeZone: timezone });
      return (ts) => window.uPlot.tzDate(new Date(ts * 1000), timezone);
    } catch {
      const match = /^([+-])(\d\d):(\d\d)$/.exec(utcOffset || "+00:00");
      const sign = match && match[1] === "-" ? -1 : 1;
      const offsetS = match ? sign * (Number(match[2]) * 3600 + Number(match[3]) * 60) : 0;
      return (ts) => {
        const shifted = new Date((ts + offsetS) * 1000);
        return new Date(shifted.getTime() + shifted.getTimezoneOffset() * 60000);
      };
    }
  }

  function count(flags) {
    return flags.filter((n) => n > 0).length;
  }

  function legendText(series, zone) {
    const period = PERIOD_WORDS[series.period_s] || `${series.period_s} s`;
    const suspect = count(series.suspect);
    const bad = count(series.bad);
    return [
      `Line: mean per ${period}; band: lowest to highest. Times: ${zone}.`,
      `▲ suspect values: ${suspect} ${suspect === 1 ? "bucket" : "buckets"}.`,
      `✕ values left out (QC failed or missing): ${bad} ${bad === 1 ? "bucket" : "buckets"}.`,
    ].join(" ");
  }

  /** A uPlot draw hook marking suspect buckets with triangles and left-out ones with crosses. */
  function qcMarks(series) {
    return (u) => {
      const { ctx } = u;
      const px = MARK_PX * devicePixelRatio;
      const bottom = u.bbox.top + u.bbox.height - px;
      ctx.save();
      ctx.lineWidth = 2 * devicePixelRatio;
      series.t.forEach((t, i) => {
        const x = u.valToPos(t, "x", true);
        const mean = series.mean[i];
        const y = mean === null ? bottom : u.valToPos(mean, "y", true);
        if (series.suspect[i] > 0) {
          ctx.fillStyle = COLOURS.suspect;
          ctx.beginPath();
          ctx.moveTo(x, y - px);
          ctx.lineTo(x + px, y + px);
          ctx.lineTo(x - px, y + px);
          ctx.closePath();
          ctx.fill();
        }
        if (series.bad[i] > 0) {
          ctx.strokeStyle = COLOURS.bad;
          ctx.beginPath();
          ctx.moveTo(x - px, y - px);
          ctx.lineTo(x + px, y + px);
          ctx.moveTo(x + px, y - px);
          ctx.lineTo(x - px, y + px);
          ctx.stroke();
        }
      });
      ctx.restore();
    };
  }

  // Tick labels on a 24-hour clock, day first: [tick step s, label, then the extra line shown
  // when the year, month, day, hour, minute or second changes, and uPlot's mode 1].
  const TIME_TICKS = [
    [86400 * 365, "{YYYY}", null, null, null, null, null, null, 1],
    [86400 * 28, "{MMM}", "\n{YYYY}", null, null, null, null, null, 1],
    [86400, "{D} {MMM}", "\n{YYYY}", null, null, null, null, null, 1],
    [3600, "{HH}:{mm}", "\n{D} {MMM}", null, "\n{D} {MMM}", null, null, null, 1],
    [60, "{HH}:{mm}", "\n{D} {MMM}", null, "\n{D} {MMM}", null, null, null, 1],
  ];

  /** The y range: the data with a tenth of its span either side, never stretched to zero. */
  function valueRange(decimals) {
    return (u, min, max) => {
      if (min === null || max === null) return [0, 1];
      const pad = Math.max((max - min) * 0.1, Math.abs(max) * 0.01, 10 ** -decimals);
      return [min - pad, max + pad];
    };
  }

  function plotOptions(series, width, tzDate) {
    const number = (u, v) => (v === null || v === undefined ? "–" : v.toFixed(series.decimals));
    const unit = series.unit ? ` (${series.unit})` : "";
    return {
      width,
      height: PLOT_HEIGHT_PX,
      tzDate,
      scales: {
        x: { time: true, range: [series.t[0], series.t[series.t.length - 1]] },
        y: { range: valueRange(series.decimals) },
      },
      series: [
        { value: "{YYYY}-{MM}-{DD} {HH}:{mm}" },
        { label: `mean${unit}`, stroke: COLOURS.mean, width: 2, value: number },
        { label: "lowest", stroke: COLOURS.edge, width: 1, value: number },
        { label: "highest", stroke: COLOURS.edge, width: 1, value: number },
      ],
      bands: [{ series: [3, 2], fill: COLOURS.band }],
      axes: [{ values: TIME_TICKS }, {}],
      hooks: { draw: [qcMarks(series)] },
    };
  }

  /** One figure.chart: its window buttons, its plot, and the legend in words. */
  function chart(figure, clock) {
    const plot = el("div", { class: "chart-plot" });
    const status = el("p", { class: "chart-status", role: "status" });
    const legend = el("p", { class: "chart-legend" });
    const buttons = [...figure.querySelectorAll("button[data-window]")];
    let windowName = DEFAULT_WINDOW;
    let uplot = null;
    let request = 0;
    figure.append(plot, legend, status);

    function pressButtons() {
      for (const button of buttons) {
        button.setAttribute("aria-pressed", String(button.dataset.window === windowName));
      }
    }

    function draw(series) {
      if (uplot) uplot.destroy();
      const data = [series.t, series.mean, series.min, series.max];
      uplot = new window.uPlot(plotOptions(series, plot.clientWidth, clock.tzDate), data, plot);
      legend.textContent = legendText(series, clock.zone);
      const empty = series.mean.every((v) => v === null);
      status.textContent = empty ? "No usable readings in this window." : "";
      figure.classList.toggle("chart-empty", empty);
    }

    async function load() {
      const mine = ++request;
      figure.setAttribute("aria-busy", "true");
      try {
        const url = `${figure.dataset.series}&window=${encodeURIComponent(windowName)}`;
        const response = await fetch(url, { headers: { Accept: "application/json" } });
        if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
        const series = await response.json();
        if (mine === request) draw(series); // a later click wins over a slow answer
      } catch (error) {
        if (mine === request) status.textContent = "The chart could not load; try again later.";
        console.warn(error.message);
      } finally {
        if (mine === request) figure.removeAttribute("aria-busy");
      }
    }

    for (const button of buttons) {
      button.addEventListener("click", () => {
        windowName = button.dataset.window;
        pressButtons();
        load();
      });
    }
    pressButtons();
    let shown = false;
    window.nemopi.whenNear(figure, CHART_NEAR_PX, () => {
      shown = true;
      load();
    });
    return {
      refreshIfLive() {
        if (shown && windowName === LIVE_WINDOW) load();
      },
      resize() {
        if (uplot) uplot.setSize({ width: plot.clientWidth, height: PLOT_HEIGHT_PX });
      },
    };
  }

  /** A row of the current-values table, as the server renders it. */
  function valueRow(v) {
    const taken = ageElement(v.time) || v.age_text;
    const qcClass = `qc-${v.qc.replaceAll(" ", "-")}`;
    return el("tr", { class: `reading ${qcClass}`, "data-quantity": v.quantity }, [
      el("th", { scope: "row" }, [v.label]),
      el("td", { class: "value" }, [v.unit ? `${v.text}\u00a0${v.unit}` : v.text]),
      el("td", { class: "qc" }, [v.qc]),
      el("td", { class: "status" }, [v.status]),
      el("td", {}, [taken]),
    ]);
  }

  function showReef(reef) {
    const block = document.getElementById(`reef-${reef.id}`);
    if (block) showStatus(block, reef);
    const body = document.querySelector("table.values tbody");
    if (body && reef.latest.length > 0) body.replaceChildren(...reef.latest.map(valueRow));
  }

  async function startCharts(reef) {
    const figures = [...document.querySelectorAll("figure.chart[data-series]")];
    if (figures.length === 0) return [];
    await Promise.all([
      loadAsset(`${UPLOT}uPlot.min.css`),
      loadAsset(`${UPLOT}uPlot.iife.min.js`),
    ]);
    const clock = {
      tzDate: reefClock(reef.timezone, reef.utc_offset),
      zone: `${reef.timezone} (UTC${reef.utc_offset})`,
    };
    const charts = figures.map((figure) => chart(figure, clock));
    window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
    return charts;
  }

  function main() {
    const page = window.nemopi.pageApi();
    if (!page) return;
    let charts = null;
    const pollNow = window.nemopi.poll(page.api, page.pollS, async (reef) => {
      showReef(reef);
      if (charts !== null) {
        charts.forEach((c) => c.refreshIfLive());
        return;
      }
      charts = [];
      charts = await startCharts(reef).catch((error) => {
        console.warn(error.message);
        return [];
      });
    });
    window.nemopi.keepAgesCurrent();
    pollNow(); // the charts need the reef's time zone
  }

  main();
})();
