function html(tag, parent, text, className) {
  const element = document.createElement(tag);
  if (text !== undefined) element.textContent = text;
  if (className) element.className = className;
  parent.appendChild(element);
  return element;
}

// A round step between ticks (1, 2 or 5 times a power of ten) giving about `count` ticks over `span`.
function tickStep(span, count) {
  const raw = span / count, power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw * 0.999) return m * power;
  return 10 * power;
}

// The multiples of `step` from lo to hi, as numbers printed without float noise (0.30000000000000004).
function ticks(lo, hi, step) {
  const out = [];
  for (let i = Math.ceil(lo / step - 1e-9); i <= Math.floor(hi / step + 1e-9); i++) out.push(Number((i * step).toPrecision(12)));
  return out;
}

// Axes, grid and ticks of the loss chart: steps 0..lastStep across, losses lo..hi (widened to round
// ticks) up. Returns the scales that put a (step, loss) point on the chart.
function lossFrame(svg, lastStep, lo, hi) {
  const W = +svg.getAttribute("width"), H = +svg.getAttribute("height");
  const left = 50, right = 14, top = 28, bottom = 40;
  if (!(hi - lo > 1e-9)) { lo -= 0.5; hi += 0.5; }
  const yStep = tickStep(hi - lo, 5);
  const yLo = Math.max(0, Math.floor(lo / yStep - 1e-9) * yStep), yHi = Math.ceil(hi / yStep + 1e-9) * yStep;
  const sMax = Math.max(lastStep, 1), xStep = Math.max(1, Math.round(tickStep(sMax, 6)));
  const toX = s => left + s / sMax * (W - left - right);
  const toY = v => H - bottom - (v - yLo) / (yHi - yLo) * (H - top - bottom);
  for (const v of ticks(yLo, yHi, yStep)) {
    make("line", { class: "grid", x1: left, y1: toY(v), x2: W - right, y2: toY(v) }, svg);
    make("line", { class: "axis", x1: left - 4, y1: toY(v), x2: left, y2: toY(v) }, svg);
    make("text", { x: left - 6, y: toY(v) + 4, "text-anchor": "end" }, svg, v);
  }
  for (const s of ticks(0, sMax, xStep)) {
    make("line", { class: "axis", x1: toX(s), y1: H - bottom, x2: toX(s), y2: H - bottom + 4 }, svg);
    make("text", { x: toX(s), y: H - bottom + 16, "text-anchor": "middle" }, svg, s);
  }
  make("line", { class: "axis", x1: left, y1: H - bottom, x2: W - right, y2: H - bottom }, svg);
  make("line", { class: "axis", x1: left, y1: top, x2: left, y2: H - bottom }, svg);
  make("text", { class: "axis-title", x: (left + W - right) / 2, y: H - 6, "text-anchor": "middle" }, svg,
    "step (updates done)");
  make("text", { class: "axis-title", x: 12, y: (top + H - bottom) / 2, "text-anchor": "middle",
    transform: `rotate(-90 12 ${(top + H - bottom) / 2})` }, svg, "loss");
  return { toX, toY, xLeft: left, xRight: W - right };
}

// One entry of the legend above the chart: a short line of the given class, then its text.
function legendEntry(svg, x, y, className, text) {
  make("line", { class: className, x1: x, y1: y - 4, x2: x + 22, y2: y - 4 }, svg);
  return make("text", { x: x + 27, y }, svg, text).getComputedTextLength() + x + 27 + 16;
}

// The loss of every update (light) and its running mean over a window (dark): one document per
// update makes the raw curve noisy. The dashed line is ln(vocab): the loss of a uniform guess.
function drawLoss(svg, curve, lastStep, uniform) {
  if (curve.length === 0) return;
  const losses = curve.map(p => p[1]);
  const marks = uniform ? [...losses, uniform.loss] : losses;
  const { toX, toY, xLeft, xRight } = lossFrame(svg, lastStep, Math.min(...marks), Math.max(...marks));
  const window = Math.max(1, Math.round(curve.length / 25));
  let x = legendEntry(svg, xLeft, 12, window > 1 ? "loss-raw" : "loss-mean", "each update");
  if (window > 1) x = legendEntry(svg, x, 12, "loss-mean", `mean of the last ${window}`);
  if (uniform) {
    legendEntry(svg, x, 12, "uniform", `uniform guess: ln ${uniform.vocab} = ${uniform.loss.toFixed(2)}`);
    make("line", { class: "uniform", x1: xLeft, y1: toY(uniform.loss), x2: xRight, y2: toY(uniform.loss) }, svg);
  }
  make("polyline", { class: "loss-raw", points: curve.map(p => toX(p[0]) + "," + toY(p[1])).join(" ") }, svg);
  let sum = 0;  // the mean drawn over the raw curve (the same line while the window is 1)
  const mean = curve.map((p, i) => {
    sum += p[1];
    if (i >= window) sum -= curve[i - window][1];
    return [p[0], sum / Math.min(i + 1, window)];
  });
  make("polyline", { class: "loss-mean", points: mean.map(p => toX(p[0]) + "," + toY(p[1])).join(" ") }, svg);
}

function drawSamples(table, samples) {
  const body = table.tBodies[0];
  for (const row of samples) {
    const tr = html("tr", body);
    html("td", tr, "step " + row.step + (row.step === 0 ? " (untrained)" : ""));
    html("td", tr, row.names.map(name => name === "" ? "(empty)" : name).join(", "));
  }
}

const WEIGHT_RGB = "31, 79, 209";  // a weight w is this colour at opacity w, over white

// The colour scale of the heat maps: weight 0 (white) to 1, with its numbers.
function drawScale(svg) {
  const x0 = 104, x1 = +svg.getAttribute("width") - 10, top = 4, height = 14;
  const gradient = make("linearGradient", { id: "weight-gradient" }, make("defs", {}, svg));
  make("stop", { offset: "0", "stop-color": `rgb(${WEIGHT_RGB})`, "stop-opacity": 0 }, gradient);
  make("stop", { offset: "1", "stop-color": `rgb(${WEIGHT_RGB})`, "stop-opacity": 1 }, gradient);
  make("text", { x: 0, y: top + 11 }, svg, "attention weight");
  make("rect", { x: x0, y: top, width: x1 - x0, height, fill: "white", stroke: "#bbb" }, svg);
  make("rect", { x: x0, y: top, width: x1 - x0, height, fill: "url(#weight-gradient)" }, svg);
  for (const w of ticks(0, 1, 0.2)) {
    const x = x0 + w * (x1 - x0);
    make("line", { class: "axis", x1: x, y1: top + height, x2: x, y2: top + height + 4 }, svg);
    make("text", { x, y: top + height + 16, "text-anchor": "middle" }, svg, w);
  }
}

// One heat map: rows are query positions, columns key positions; weights[t] has t + 1 entries.
function drawMap(parent, tokens, weights, label) {
  const box = html("div", parent);
  html("div", box, label, "head-label");
  const table = html("table", box, undefined, "map");
  const head = html("tr", table);
  html("th", head);
  tokens.forEach(token => html("th", head, token));
  weights.forEach((row, t) => {
    const tr = html("tr", table);
    html("th", tr, tokens[t]);
    tokens.forEach((_, s) => {
      const td = html("td", tr);
      if (s <= t) {
        const w = row[s];
        td.className = w > 0.55 ? "cell dark" : "cell";
        td.style.background = `rgba(${WEIGHT_RGB}, ${w.toFixed(4)})`;
        td.textContent = w.toFixed(2);
        td.dataset.weight = w;
        td.title = tokens[t] + " \u2192 " + tokens[s] + ": " + w.toFixed(3);
      } else {
        td.className = "future";
      }
    });
  });
}

function drawAttention(entry) {
  const maps = document.getElementById("maps");
  maps.replaceChildren();
  const layers = entry.layers;
  layers.forEach((positions, l) => {
    const layer = html("div", maps);
    html("div", layer, layers.length > 1 ? "layer " + l : "", "layer-label");
    const row = html("div", layer, undefined, "layer");
    const heads = positions.length ? positions[0].length : 0;
    for (let h = 0; h < heads; h++) {
      drawMap(row, entry.tokens, positions.map(position => position[h]), "head " + h);
    }
  });
}

const summary = document.getElementById("summary");
summary.textContent = DATA.summary;
drawLoss(document.getElementById("loss"), DATA.curve, DATA.lastStep, DATA.uniform);
drawSamples(document.getElementById("samples"), DATA.samples);
drawScale(document.getElementById("scale"));
const select = document.getElementById("name");
DATA.attention.forEach((entry, i) => {
  const option = document.createElement("option");
  option.value = i;
  option.textContent = entry.name;
  select.appendChild(option);
});
select.addEventListener("change", () => drawAttention(DATA.attention[+select.value]));
if (DATA.attention.length) drawAttention(DATA.attention[0]);
