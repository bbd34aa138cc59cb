/*
 * What both live pages share: conditional polling of the page's JSON, ages kept current, the
 * "dashboard unreachable" banner, and the verdict block built from the API's data.
 *
 * The pages are complete without this file (server-rendered); it only keeps them current on a
 * phone left open on the pier. Nodes are built with textContent, never from HTML strings, so
 * nothing in the data can become markup.
 */
"use strict";

window.nemopi = (function () {
  const AGE_REFRESH_MS = 30000;
  const scriptUrl = document.currentScript ? document.currentScript.src : location.href;
  let serverOffsetMs = 0; // server clock minus this device's clock, from the last poll

  /** Element with attributes and children (nodes or strings, which become text). */
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, value);
    }
    for (const child of children || []) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function nowMs() {
    return Date.now() + serverOffsetMs;
  }

  /** The server's words for an age (dashboard/display.py age_text), so both read alike. */
  function ageWords(thenMs, now) {
    if (thenMs === null || Number.isNaN(thenMs)) return "unknown";
    const ageMs = now - thenMs;
    if (ageMs < -60000) return "in the future (clock ahead?)";
    const seconds = Math.max(0, Math.floor(ageMs / 1000));
    if (seconds < 60) return "just now";
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
    if (seconds < 48 * 3600) return `${Math.floor(seconds / 3600)} h ago`;
    return `${Math.floor(seconds / 86400)} days ago`;
  }

  function ageElement(iso) {
    if (!iso) return null;
    return el("time", { class: "age", datetime: iso }, [ageWords(Date.parse(iso), nowMs())]);
  }

  function refreshAges() {
    const now = nowMs();
    for (const time of document.querySelectorAll("time.age[datetime]")) {
      const words = ageWords(Date.parse(time.getAttribute("datetime")), now);
      if (time.textContent !== words) time.textContent = words;
    }
  }

  /** Swap the first ``selector`` match inside ``container`` for ``node``, or append it. */
  function replacePart(container, selector, node) {
    const old = container.querySelector(selector);
    if (old && node) old.replaceWith(node);
    else if (old) old.remove();
    else if (node) container.append(node);
  }

  function verdictBlock(verdict) {
    return el("p", { class: "verdict" }, [
      el("span", { class: `shape shape-${verdict.shape}`, "aria-hidden": "true" }),
      " ",
      el("strong", { class: "verdict-word" }, [verdict.word]),
    ]);
  }

  function reasonsList(reasons) {
    const items = reasons.map((r) => {
      const age = ageElement(r.time);
      return el("li", { class: `reason reason-${r.level}` }, age ? [r.text, " ", age] : [r.text]);
    });
    if (items.length === 0) {
      const none = "No rule applies to what this buoy measures: unknown";
      items.push(el("li", { class: "reason reason-unknown" }, [none]));
    }
    return el("ul", { class: "reasons" }, items);
  }

  function linkLine(link) {
    return el("p", { class: `link link-${link.state}` }, [link.text]);
  }

  function heatLine(heat) {
    if (!heat) return null;
    const level = heat.alert_level === null ? "none" : heat.alert_level;
    return el("p", { class: `heat heat-${level}` }, [heat.text]);
  }

  /** Replace a verdict-carrying element's class ``verdict-*`` with the new level's. */
  function setVerdictClass(node, level) {
    for (const name of [...node.classList]) {
      if (name.startsWith("verdict-")) node.classList.remove(name);
    }
    node.classList.add(`verdict-${level}`);
  }

  const STATUS_PARTS = ["p.verdict", "ul.reasons", "p.link", "p.heat"].map((s) => `:scope > ${s}`);

  /**
   * Redraw a reef's status inside ``container`` (an overview card or the reef page's verdict
   * section): verdict, reasons with ages, link state and heat stress line, where the server
   * put them (after the card's heading).
   */
  function showStatus(container, reef) {
    setVerdictClass(container, reef.verdict.level);
    const parts = [
      verdictBlock(reef.verdict),
      reasonsList(reef.verdict.reasons),
      linkLine(reef.link),
      heatLine(reef.heat_stress),
    ].filter(Boolean);
    const old = [...container.querySelectorAll(STATUS_PARTS.join(", "))];
    const heading = container.querySelector(":scope > h2");
    if (old.length > 0) old[0].before(...parts);
    else if (heading) heading.after(...parts);
    else container.prepend(...parts);
    for (const node of old) node.remove();
  }

  function clockText(date) {
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  }

  /** The banner that says the data shown is the last received, while polls fail. */
  const unreachable = {
    since: null,
    show() {
      if (this.since === null) this.since = new Date();
      let banner = document.getElementById("connection-status");
      if (!banner) {
        banner = el("p", { id: "connection-status", class: "connection-lost", role: "status" });
        const main = document.querySelector("main") || document.body;
        main.prepend(banner);
      }
      banner.textContent =
        `Dashboard unreachable since ${clockText(this.since)}` +
        " — showing the last data received";
    },
    hide() {
      this.since = null;
      const banner = document.getElementById("connection-status");
      if (banner) banner.remove();
    },
  };

  /**
   * Poll ``url`` every ``intervalS`` seconds with If-None-Match, calling ``onData(json)`` when
   * the server has something new (a 304 costs a few header bytes). Polling pauses while the tab
   * is hidden and resumes at once when it is shown again.
   */
  function poll(url, intervalS, onData) {
    let etag = null;
    let timer = null;
    let inFlight = false;

    async function once() {
      if (inFlight) return;
      inFlight = true;
      try {
        const headers = { Accept: "application/json" };
        if (etag) headers["If-None-Match"] = etag;
        const response = await fetch(url, { headers, cache: "no-store" });
        if (response.status === 304) {
          unreachable.hide();
          return;
        }
        if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
        const data = await response.json();
        etag = response.headers.get("ETag");
        if (data.generated_at) serverOffsetMs = Date.parse(data.generated_at) - Date.now();
        unreachable.hide();
        onData(data);
        refreshAges();
      } catch (error) {
        unreachable.show();
        console.warn("poll failed:", error.message);
      } finally {
        inFlight = false;
      }
    }

    function schedule() {
      clearInterval(timer);
      timer = document.hidden ? null : setInterval(once, intervalS * 1000);
    }

    document.addEventListener("visibilitychange", () => {
      schedule();
      if (!document.hidden) once();
    });
    schedule();
    return once;
  }

  /** The page's ``data-api`` and ``data-poll-s``, or null when the page is not live. */
  function pageApi() {
    const api = document.body.dataset.api;
    const pollS = Number(document.body.dataset.pollS);
    return api && pollS > 0 ? { api, pollS } : null;
  }

  function keepAgesCurrent() {
    setInterval(refreshAges, AGE_REFRESH_MS);
  }

  /** Call ``action`` once, when ``node`` comes within ``marginPx`` of the viewport. */
  function whenNear(node, marginPx, action) {
    if (!("IntersectionObserver" in window)) {
      action();
      return;
    }
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) {
          observer.disconnect();
          action();
        }
      },
      { rootMargin: `${marginPx}px` }
    );
    observer.observe(node);
  }

  /** A script or style sheet shipped beside this file, loaded once, on demand. */
  const loaded = new Map();
  function loadAsset(path) {
    const href = new URL(path, scriptUrl).href;
    if (!loaded.has(href)) {
      loaded.set(
        href,
        new Promise((resolve, reject) => {
          const node = href.endsWith(".css")
            ? el("link", { rel: "stylesheet", href })
            : el("script", { src: href });
          node.addEventListener("load", resolve);
          node.addEventListener("error", () => reject(new Error(`cannot load ${path}`)));
          document.head.append(node);
        })
      );
    }
    return loaded.get(href);
  }

  return {
    el,
    ageWords,
    ageElement,
    refreshAges,
    replacePart,
    showStatus,
    poll,
    pageApi,
    keepAgesCurrent,
    whenNear,
    loadAsset,
  };
})();
