"use strict";
// Shared by every page: its own script follows this one in the same <script> element.
const SVG_NS = "http://www.w3.org/2000/svg";

// An SVG element with these attributes (and text), appended to parent.
function make(tag, attributes, parent, text) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const key in attributes) element.setAttribute(key, attributes[key]);
  if (text !== undefined) element.textContent = text;
  parent.appendChild(element);
  return element;
}

// The frame of a line chart over steps: axes, the value range and the first and last step written
// on it. Returns the scales {toX, toY} that put a (step, value) point on the chart, and the
// y of the plot's top and bottom edges (for a step marker). With log true the values are on a
// log scale (vMin must be > 0), with each power of ten between vMin and vMax marked.
function chartFrame(svg, sMin, sMax, vMin, vMax, log = false) {
  const W = +svg.getAttribute("width"), H = +svg.getAttribute("height");
  const left = 46, right = 10, top = 10, bottom = 24;
  const scale = log ? Math.log10 : v => v;
  const toX = s => left + (s - sMin) / (sMax - sMin) * (W - left - right);
  const toY = v => H - bottom - (scale(v) - scale(vMin)) / (scale(vMax) - scale(vMin)) * (H - top - bottom);
  make("line", { class: "axis", x1: left, y1: H - bottom, x2: W - right, y2: H - bottom }, svg);
  make("line", { class: "axis", x1: left, y1: top, x2: left, y2: H - bottom }, svg);
  make("text", { x: left - 4, y: toY(vMax) + 4, "text-anchor": "end" }, svg, Number(vMax.toPrecision(3)));
  make("text", { x: left - 4, y: toY(vMin) + 4, "text-anchor": "end" }, svg, Number(vMin.toPrecision(3)));
  if (log) {
    for (let e = Math.ceil(Math.log10(vMin)); e <= Math.floor(Math.log10(vMax)); e++) {
      const y = toY(10 ** e);
      if (Math.abs(y - toY(vMin)) < 12 || Math.abs(y - toY(vMax)) < 12) continue;  // would overlap a range label
      make("line", { class: "axis", x1: left - 3, y1: y, x2: left, y2: y }, svg);
      make("text", { x: left - 4, y: y + 4, "text-anchor": "end" }, svg, Number((10 ** e).toPrecision(1)));
    }
  }
  make("text", { x: left, y: H - 8 }, svg, "step " + sMin);
  make("text", { x: W - right, y: H - 8, "text-anchor": "end" }, svg, "step " + sMax);
  return { toX, toY, yTop: top, yBottom: H - bottom };
}
