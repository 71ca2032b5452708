const snapshots = DATA.snapshots, curve = DATA.curve, classes = DATA.classes;
const slider = document.getElementById("slider");
const label = document.getElementById("snapshot-label");
const canvas = document.getElementById("boundary");
const context = canvas.getContext("2d");
const logSwitch = document.getElementById("log-scale");
slider.max = snapshots.length - 1;
let shown = 0;  // the slider position on view

// "#rrggbb" -> [r, g, b]
function rgb(hex) { return [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16)); }
const regionRgb = classes.map(c => rgb(c.region));

// The legend: each class's dot colour and region shade, with its name (names and colours come from Python).
const legend = document.getElementById("legend");
classes.forEach(c => {
  const item = document.createElement("span");
  item.className = "legend-item";
  const swatch = document.createElement("span");
  swatch.className = "swatch";
  swatch.style.background = c.region;
  const dot = document.createElement("span");
  dot.className = "dot";
  dot.style.background = c.colour;
  swatch.appendChild(dot);
  item.appendChild(swatch);
  item.appendChild(document.createTextNode(c.name));
  legend.appendChild(item);
});
const boundaryItem = document.createElement("span");
boundaryItem.className = "legend-item";
boundaryItem.innerHTML = '<span class="line"></span>decision boundary (score 0)';
legend.appendChild(boundaryItem);

function drawBoundary(snapshot) {
  const grid = snapshot.grid, xs = grid.xs, ys = grid.ys, scores = grid.scores;
  const W = canvas.width, H = canvas.height, nx = xs.length, ny = ys.length;
  const x0 = xs[0], x1 = xs[nx - 1], y0 = ys[0], y1 = ys[ny - 1];
  const toX = x => (x - x0) / (x1 - x0) * W, toY = y => H - (y - y0) / (y1 - y0) * H;
  // Regions: each pixel takes the class of the score interpolated (bilinearly) between the grid
  // points around it, so the region edge is smooth and lies under the boundary line below.
  const image = context.createImageData(W, H);
  for (let py = 0; py < H; py++) {
    const fj = Math.min(ny - 1.000001, Math.max(0, (1 - (py + 0.5) / H) * (ny - 1)));
    const j = Math.floor(fj), v = fj - j;
    for (let px = 0; px < W; px++) {
      const fi = Math.min(nx - 1.000001, Math.max(0, (px + 0.5) / W * (nx - 1)));
      const i = Math.floor(fi), u = fi - i;
      const score = (1 - v) * ((1 - u) * scores[j][i] + u * scores[j][i + 1])
        + v * ((1 - u) * scores[j + 1][i] + u * scores[j + 1][i + 1]);
      image.data.set([...regionRgb[score > 0 ? 1 : 0], 255], 4 * (py * W + px));
    }
  }
  context.putImageData(image, 0, 0);
  // The boundary: where the score crosses 0, found on each grid cell's edges (marching squares).
  context.beginPath();
  for (let j = 0; j + 1 < ny; j++) {
    for (let i = 0; i + 1 < nx; i++) {
      const corners = [[i, j], [i + 1, j], [i + 1, j + 1], [i, j + 1]];
      const crossings = [];
      for (let e = 0; e < 4; e++) {
        const [ia, ja] = corners[e], [ib, jb] = corners[(e + 1) % 4];
        const a = scores[ja][ia], b = scores[jb][ib];
        if ((a > 0) !== (b > 0)) {
          const t = a / (a - b);
          crossings.push([xs[ia] + t * (xs[ib] - xs[ia]), ys[ja] + t * (ys[jb] - ys[ja])]);
        }
      }
      for (let k = 0; k + 1 < crossings.length; k += 2) {
        context.moveTo(toX(crossings[k][0]), toY(crossings[k][1]));
        context.lineTo(toX(crossings[k + 1][0]), toY(crossings[k + 1][1]));
      }
    }
  }
  context.lineWidth = 2;
  context.strokeStyle = "#222";
  context.stroke();
  DATA.X.forEach((point, k) => {
    context.beginPath();
    context.arc(toX(point[0]), toY(point[1]), 4.5, 0, 2 * Math.PI);
    context.fillStyle = classes[DATA.labels[k]].colour;
    context.fill();
    context.lineWidth = 1;
    context.strokeStyle = "#222";
    context.stroke();
  });
}

// One step range for both charts and the slider: the curve's and the snapshots' steps together.
const allSteps = curve.map(p => p.step).concat(snapshots.map(s => s.step));
const sMin = Math.min(...allSteps), sMax = Math.max(...allSteps, sMin + 1);

// A line chart of one field of the curve; returns a function that moves the step marker.
// On a log scale only positive values can be drawn (a loss of exactly 0 is left out).
function drawCurve(svg, field, className, fixedRange, log) {
  svg.replaceChildren();
  const points = curve.filter(p => !log || p[field] > 0);
  const values = points.map(p => p[field]);
  let [vMin, vMax] = fixedRange || (log
    ? [Math.min(...values), Math.max(...values)]
    : [Math.min(0, ...values), Math.max(...values, 1e-12)]);
  if (!(vMax > vMin)) vMax = log ? vMin * 10 : vMin + 1;
  const { toX, toY, yTop, yBottom } = chartFrame(svg, sMin, sMax, vMin, vMax, log);
  make("polyline", {
    class: className, points: points.map(p => toX(p.step) + "," + toY(p[field])).join(" "),
  }, svg);
  const marker = make("line", { class: "marker", y1: yTop, y2: yBottom }, svg);
  return step => {
    const x = toX(Math.min(sMax, Math.max(sMin, step)));  // never off the axis
    marker.setAttribute("x1", x);
    marker.setAttribute("x2", x);
  };
}
const canLog = curve.some(p => p.loss > 0);
logSwitch.checked = canLog;
logSwitch.disabled = !canLog;
let moveLossMarker = drawCurve(document.getElementById("loss"), "loss", "loss-line", null, logSwitch.checked);
// Accuracy in percent, as in the label above the picture and in the PNG of `micrograd demo`.
curve.forEach(p => { p.accuracyPercent = 100 * p.accuracy; });
const accuracySvg = document.getElementById("accuracy");
const accuracyHeading = accuracySvg.previousElementSibling && accuracySvg.previousElementSibling.querySelector("b");
if (accuracyHeading) accuracyHeading.textContent = "Accuracy (%)";
const moveAccuracyMarker = drawCurve(accuracySvg, "accuracyPercent", "accuracy-line", [0, 100], false);
logSwitch.addEventListener("change", () => {
  moveLossMarker = drawCurve(document.getElementById("loss"), "loss", "loss-line", null, logSwitch.checked);
  moveLossMarker(snapshots[shown].step);
});

function show(k) {
  shown = k;
  const snapshot = snapshots[k];
  slider.value = k;
  label.textContent = `step ${snapshot.step}: loss ${Number(snapshot.loss.toPrecision(4))}, ` +
    `accuracy ${(100 * snapshot.accuracy).toFixed(1)}%`;
  drawBoundary(snapshot);
  moveLossMarker(snapshot.step);
  moveAccuracyMarker(snapshot.step);
}
slider.addEventListener("input", () => show(+slider.value));
show(0);
