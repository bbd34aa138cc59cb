/*
 * The export page: the size of what is asked for before it starts, then the download streamed
 * with progress and a cancel button, and saved as a file.
 *
 * Without this file the form is a plain GET form to /api/export and still works. With it, any
 * change to the form asks /api/export/estimate (the same parameters) and shows the rows and the
 * approximate size, or why the export would be refused and how to split it. "Download" reads
 * the export with fetch, counting bytes and rows against the X-Export-Rows header, and hands
 * the finished file to the browser through a Blob link.
 */
"use strict";

(function () {
  const ESTIMATE_DELAY_MS = 300;
  const form = document.getElementById("export-form");
  const estimateLine = document.getElementById("export-estimate");
  const downloadButton = document.getElementById("export-download");
  const cancelButton = document.getElementById("export-cancel");
  const progressLine = document.getElementById("export-progress-line");
  const progressBar = document.getElementById("export-progress");
  const progressText = document.getElementById("export-progress-text");
  const saved = document.getElementById("export-saved");
  const fileLink = document.getElementById("export-file");
  let estimateTimer = null;
  let estimateAsked = 0; // only the answer to the latest question is shown
  let latestEstimate = null;
  let download = null; // the AbortController of the running download
  let fileUrl = null;

  /** The form as a query string, without blank fields (as the server reads them). */
  function query() {
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(form)) {
      if (String(value).trim() !== "") params.append(name, value);
    }
    return params.toString();
  }

  function chosenFormat() {
    return new FormData(form).get("format") || "csv";
  }

  function sizeText(bytes) {
    if (bytes < 1000) return `${bytes} bytes`;
    const units = ["kB", "MB", "GB", "TB"];
    let value = bytes;
    let unit = -1;
    while (value >= 1000 && unit < units.length - 1) {
      value /= 1000;
      unit += 1;
    }
    return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
  }

  /** An error answer of the API as a sentence: it names the parameter when there is one. */
  async function errorText(response) {
    try {
      const body = await response.json();
      const where = body.parameter ? `${body.parameter}: ` : "";
      return `${where}${body.message || body.error}`;
    } catch (err) {
      return `the server answered ${response.status}`;
    }
  }

  function showEstimate(estimate) {
    latestEstimate = estimate;
    if (estimate.over_limit) {
      estimateLine.textContent = `Too large to export at once: ${estimate.message}.`;
      downloadButton.disabled = true;
      return;
    }
    const rows = estimate.rows.toLocaleString();
    const size = sizeText(estimate.bytes[chosenFormat()] || 0);
    estimateLine.textContent = `${rows} rows, about ${size}.`;
    downloadButton.disabled = download !== null;
  }

  async function askEstimate() {
    const asked = ++estimateAsked;
    estimateLine.textContent = "Counting…";
    try {
      const response = await fetch(`${form.dataset.estimate}?${query()}`);
      if (asked !== estimateAsked) return;
      if (response.ok) {
        showEstimate(await response.json());
      } else {
        latestEstimate = null;
        estimateLine.textContent = `Cannot export this: ${await errorText(response)}.`;
        downloadButton.disabled = response.status === 400;
      }
    } catch (err) {
      if (asked === estimateAsked) estimateLine.textContent = "The server cannot be reached.";
    }
  }

  function estimateSoon() {
    clearTimeout(estimateTimer);
    estimateTimer = setTimeout(askEstimate, ESTIMATE_DELAY_MS);
  }

  function fileName(response) {
    const disposition = response.headers.get("Content-Disposition") || "";
    const found = /filename="([^"]+)"/.exec(disposition);
    return found ? found[1] : "nemopi-export";
  }

  function showProgress(rowsDone, rowsTotal, bytes, bytesExpected) {
    const rowsKnown = chosenFormat() !== "netcdf"; // a NetCDF file is not line by line
    const done = rowsKnown ? rowsDone : bytes;
    const total = rowsKnown ? rowsTotal : bytesExpected;
    progressBar.max = Math.max(total, 1);
    progressBar.value = Math.min(done, progressBar.max);
    const rowsPart = rowsKnown ? `${rowsDone.toLocaleString()} of ${rowsTotal.toLocaleString()} rows, ` : "";
    progressText.textContent = `${rowsPart}${sizeText(bytes)} received`;
  }

  /** Lines in a chunk: each row of CSV or JSON Lines ends in one newline. */
  function newlines(chunk) {
    let count = 0;
    for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) count++;
    return count;
  }

  function finishDownload(blob, name) {
    if (fileUrl) URL.revokeObjectURL(fileUrl);
    fileUrl = URL.createObjectURL(blob);
    fileLink.href = fileUrl;
    fileLink.download = name;
    fileLink.textContent = `Save ${name} again (${sizeText(blob.size)})`;
    saved.hidden = false;
    fileLink.click();
  }

  function endDownload(message) {
    download = null;
    cancelButton.hidden = true;
    downloadButton.disabled = latestEstimate !== null && latestEstimate.over_limit;
    progressText.textContent = message;
  }

  async function startDownload(event) {
    event.preventDefault();
    if (download) return;
    download = new AbortController();
    downloadButton.disabled = true;
    cancelButton.hidden = false;
    progressLine.hidden = false;
    saved.hidden = true;
    progressText.textContent = "Starting…";
    try {
      const response = await fetch(`${form.action}?${query()}`, { signal: download.signal });
      if (!response.ok) {
        endDownload(`Not exported: ${await errorText(response)}.`);
        return;
      }
      const rowsTotal = Number(response.headers.get("X-Export-Rows") || 0);
      const bytesExpected = latestEstimate && latestEstimate.bytes ? latestEstimate.bytes[chosenFormat()] : 0;
      const headerLines = chosenFormat() === "csv" ? 1 : 0;
      const reader = response.body.getReader();
      const chunks = [];
      let bytes = 0;
      let lines = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        bytes += value.length;
        lines += newlines(value);
        showProgress(Math.max(0, lines - headerLines), rowsTotal, bytes, bytesExpected);
      }
      const name = fileName(response);
      finishDownload(new Blob(chunks, { type: response.headers.get("Content-Type") || "" }), name);
      endDownload(`Done: ${rowsTotal.toLocaleString()} rows, ${sizeText(bytes)}, saved as ${name}.`);
    } catch (err) {
      endDownload(err.name === "AbortError" ? "Cancelled." : "The download broke off: try again.");
    }
  }

  form.addEventListener("change", estimateSoon);
  form.addEventListener("input", estimateSoon);
  form.addEventListener("submit", startDownload);
  cancelButton.addEventListener("click", () => download && download.abort());
  askEstimate();
})();
