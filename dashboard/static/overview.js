/*
 * The overview, live: each reef's card follows /api/overview (verdict, reasons, link state,
 * heat stress, key values, order), and a map of the buoys is drawn once it scrolls near.
 *
 * The server-rendered list is the page; this script only keeps it current. The map library
 * (Leaflet, about 46 KB gzipped) is fetched only when the map comes near the viewport, so a
 * phone that only reads the verdicts never downloads it.
 */
"use strict";

(function () {
  const { el, replacePart, showStatus, ageElement } = window.nemopi;
  const LEAFLET = "vendor/leaflet-1.9.4/";
  const MAP_NEAR_PX = 200;
  const SINGLE_REEF_ZOOM = 11;
  const MAX_FIT_ZOOM = 12;
  const LABEL_ROOM = { paddingTopLeft: [24, 24], paddingBottomRight: [96, 24] }; // words go right
  const QC_SHOWN = new Set(["suspect", "fail", "missing"]);

  /** One key value, as the server renders it: label, value and unit, QC, sensor, age. */
  function keyValue(kv) {
    const value = kv.unit ? `${kv.text}\u00a0${kv.unit}` : kv.text;
    const age = ageElement(kv.time);
    const details = [el("span", { class: "value" }, [value])];
    if (QC_SHOWN.has(kv.qc)) details.push(" ", el("span", { class: "qc" }, [`QC ${kv.qc}`]));
    if (kv.status !== "OK") details.push(" ", el("span", { class: "status" }, [kv.status]));
    if (age) details.push(" ", age);
    const qcClass = `qc-${kv.qc.replaceAll(" ", "-")}`;
    return el("div", { class: `key-value ${qcClass}`, "data-quantity": kv.quantity }, [
      el("dt", {}, [kv.label]),
      el("dd", {}, details),
    ]);
  }

  function keyValues(values) {
    return values.length ? el("dl", { class: "key-values" }, values.map(keyValue)) : null;
  }

  function newCard(reef) {
    return el("li", { class: "reef", id: `reef-${reef.id}`, "data-reef": reef.id }, [
      el("h2", {}, [el("a", { href: reef.url }, [reef.name])]),
    ]);
  }

  function updateCard(card, reef) {
    showStatus(card, reef);
    replacePart(card, ":scope > dl.key-values", keyValues(reef.key_values));
  }

  /** The server's "no buoy yet" line after the list, there exactly when the list is empty. */
  function showEmpty(list, empty) {
    const next = list.nextElementSibling;
    const shown = next !== null && next.matches("p.empty");
    if (empty && !shown) list.after(el("p", { class: "empty" }, ["No buoy has reported yet."]));
    if (!empty && shown) next.remove();
  }

  /** Make ``#reefs`` hold exactly the API's reefs, in the API's order. */
  function showReefs(reefs) {
    const list = document.getElementById("reefs");
    if (!list) return;
    showEmpty(list, reefs.length === 0);
    const wanted = new Set(reefs.map((r) => `reef-${r.id}`));
    for (const card of [...list.children]) {
      if (!wanted.has(card.id)) card.remove();
    }
    reefs.forEach((reef, index) => {
      const card = document.getElementById(`reef-${reef.id}`) || newCard(reef);
      updateCard(card, reef);
      if (list.children[index] !== card) list.insertBefore(card, list.children[index] || null);
    });
  }

  function showIngest(ingest) {
    const banner = document.getElementById("ingest-status");
    if (!banner) return;
    banner.className = `ingest ingest-${ingest.state}`;
    banner.textContent = ingest.text;
  }

  /** The map of buoys: Leaflet markers shaped, coloured and labelled by verdict. */
  function reefMap(container) {
    const note = el("p", { class: "map-note", role: "note" });
    let map = null;
    let markers = null;
    let fitted = false;

    function say(text) {
      note.textContent = text;
      if (!note.isConnected) container.after(note);
    }

    /** ``text`` as HTML, for the attribution and tooltips Leaflet inserts as markup. */
    function escaped(text) {
      const holder = document.createElement("span");
      holder.textContent = text;
      return holder.innerHTML;
    }

    function start(L) {
      container.replaceChildren();
      container.classList.add("map-live");
      map = L.map(container, { scrollWheelZoom: false });
      markers = L.layerGroup().addTo(map);
      const tiles = container.dataset.tiles;
      if (tiles) {
        let failed = false;
        const attribution = escaped(container.dataset.attribution || "");
        L.tileLayer(tiles, { attribution, maxZoom: 18 })
          .on("tileerror", () => {
            if (failed) return;
            failed = true;
            container.classList.add("map-plain");
            say("Map tiles could not load: the buoys are shown on a plain background.");
          })
          .addTo(map);
      } else {
        container.classList.add("map-plain");
        say("No map tiles configured: the buoys are shown on a plain background.");
      }
    }

    /** The verdict's shape and colour (style.css's, as in the list) and its word. */
    function markerIcon(L, reef) {
      const shape = el("span", { class: `shape shape-${reef.verdict.shape}` });
      const label = el("span", { class: `reef-marker verdict-${reef.verdict.level}` }, [
        el("span", { class: "marker-symbol" }, [shape]),
        el("span", { class: "marker-word" }, [reef.verdict.word]),
      ]);
      return L.divIcon({ className: "reef-marker-icon", html: label, iconSize: null });
    }

    function show(L, reefs) {
      markers.clearLayers();
      const placed = reefs.filter((r) => r.position);
      for (const reef of placed) {
        const where = [reef.position.latitude, reef.position.longitude];
        const words = `${reef.name}: ${reef.verdict.word}`;
        L.marker(where, { icon: markerIcon(L, reef), title: words, riseOnHover: true })
          .bindTooltip(escaped(words), { direction: "top" })
          .on("click", () => location.assign(reef.url))
          .addTo(markers);
      }
      if (placed.length === 0) {
        map.setView([0, 0], 1);
        say("No buoy has reported a position yet.");
        return;
      }
      if (fitted) return; // keep the reader's pan and zoom once the map is shown
      fitted = true;
      const bounds = L.latLngBounds(placed.map((r) => [r.position.latitude, r.position.longitude]));
      if (placed.length === 1) map.setView(bounds.getCenter(), SINGLE_REEF_ZOOM);
      else map.fitBounds(bounds, { ...LABEL_ROOM, maxZoom: MAX_FIT_ZOOM });
    }

    let leaflet = null;
    let pending = null;
    return {
      /** Fetch Leaflet and build the map; ``reefs`` arrive through ``update``. */
      async load() {
        const { loadAsset } = window.nemopi;
        try {
          await Promise.all([
            loadAsset(`${LEAFLET}leaflet.css`),
            loadAsset(`${LEAFLET}leaflet.js`),
          ]);
        } catch (error) {
          say("The map could not load; the list above has every reef.");
          console.warn(error.message);
          return;
        }
        leaflet = window.L;
        start(leaflet);
        if (pending) show(leaflet, pending);
      },
      update(reefs) {
        pending = reefs;
        if (leaflet) show(leaflet, reefs);
      },
    };
  }

  function main() {
    const page = window.nemopi.pageApi();
    if (!page) return;
    const container = document.getElementById("map");
    const map = container ? reefMap(container) : null;
    let received = false;
    const pollNow = window.nemopi.poll(page.api, page.pollS, (data) => {
      received = true;
      showIngest(data.ingest);
      showReefs(data.reefs);
      if (map) map.update(data.reefs);
    });
    window.nemopi.keepAgesCurrent();
    if (map) {
      window.nemopi.whenNear(container, MAP_NEAR_PX, () => {
        map.load();
        if (!received) pollNow(); // the positions come from the API
      });
    }
  }

  main();
})();
