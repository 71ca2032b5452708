function html(tag, parent, text, className) {
  const element = document.createElement(tag);
  if (text !== undefined) element.textContent = text;
  if (className) element.className = className;
  parent.appendChild(element);
  return element;
}

// The loss of every step (light) and its running mean over a window (dark): one document per
// step makes the raw curve noisy.
function drawLoss(svg, curve) {
  if (curve.length === 0) return;
  const steps = curve.map(p => p[0]), losses = curve.map(p => p[1]);
  const sMin = Math.min(...steps), sMax = Math.max(...steps, sMin + 1);
  const { toX, toY } = chartFrame(svg, sMin, sMax, Math.min(0, ...losses), Math.max(...losses, 1e-12));
  make("polyline", { class: "loss-raw", points: curve.map(p => toX(p[0]) + "," + toY(p[1])).join(" ") }, svg);
  const window = Math.max(1, Math.round(curve.length / 25));
  let sum = 0;
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
    html("td", tr, "step " + row.step);
    html("td", tr, row.names.map(name => name === "" ? "(empty)" : name).join(", "));
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
        td.className = "cell";
        td.style.background = "rgba(31, 79, 209, " + w.toFixed(4) + ")";
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
drawLoss(document.getElementById("loss"), DATA.curve);
drawSamples(document.getElementById("samples"), DATA.samples);
const select = document.getElementById("name");
DATA.attention.forEach((entry, i) => {
  const option = document.createElement("option");
  option.value = i;
  option.textContent = entry.name;
  select.appendChild(option);
});
select.addEventListener("change", () => drawAttention(DATA.attention[+select.value]));
if (DATA.attention.length) drawAttention(DATA.attention[0]);
