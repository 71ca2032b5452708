const snapshots = DATA.snapshots, curve = DATA.curve;
const slider = document.getElementById("slider");
const label = document.getElementById("snapshot-label");
const canvas = document.getElementById("boundary");
const context = canvas.getContext("2d");
slider.max = snapshots.length - 1;

function drawBoundary(snapshot) {
  const grid = snapshot.grid, xs = grid.xs, ys = grid.ys;
  const W = canvas.width, H = canvas.height;
  const x0 = xs[0], x1 = xs[xs.length - 1], y0 = ys[0], y1 = ys[ys.length - 1];
  const toX = x => (x - x0) / (x1 - x0) * W, toY = y => H - (y - y0) / (y1 - y0) * H;
  // One pixel per grid point on a small canvas, then scaled up with smoothing: a soft
  // picture of the scores instead of blocks. Source pixel centres map onto the grid points.
  const cells = document.createElement("canvas");
  cells.width = xs.length;
  cells.height = ys.length;
  const cellContext = cells.getContext("2d");
  const image = cellContext.createImageData(xs.length, ys.length);
  for (let j = 0; j < ys.length; j++) {
    for (let i = 0; i < xs.length; i++) {
      const score = grid.scores[j][i];
      // Colour strength grows with |score| but saturates, so the boundary (score 0) stays white.
      const strength = isFinite(score) ? Math.tanh(Math.abs(score)) : 1;
      const light = Math.round(255 - 110 * strength);
      const at = 4 * ((ys.length - 1 - j) * xs.length + i);  // row 0 of the image is the top: the largest y
      image.data.set(score > 0 ? [light, light, 255, 255] : [255, light, light, 255], at);
    }
  }
  cellContext.putImageData(image, 0, 0);
  context.clearRect(0, 0, W, H);
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = "high";
  context.drawImage(cells, 0.5, 0.5, xs.length - 1, ys.length - 1, 0, 0, W, H);
  DATA.X.forEach((point, k) => {
    context.beginPath();
    context.arc(toX(point[0]), toY(point[1]), 4.5, 0, 2 * Math.PI);
    context.fillStyle = DATA.y[k] > 0 ? "#1f4fd1" : "#d12f1f";
    context.fill();
    context.lineWidth = 1;
    context.strokeStyle = "#222";
    context.stroke();
  });
}

// A line chart of one field of the curve; returns a function that moves the step marker.
function drawCurve(svg, field, className, fixedRange) {
  const points = curve.filter(p => isFinite(p[field]));
  const steps = curve.map(p => p.step);
  const sMin = Math.min(...steps), sMax = Math.max(...steps, sMin + 1);
  const values = points.map(p => p[field]);
  const [vMin, vMax] = fixedRange || [Math.min(0, ...values), Math.max(...values, 1e-12)];
  const { toX, toY, yTop, yBottom } = chartFrame(svg, sMin, sMax, vMin, vMax);
  make("polyline", {
    class: className, points: points.map(p => toX(p.step) + "," + toY(p[field])).join(" "),
  }, svg);
  const marker = make("line", { class: "marker", y1: yTop, y2: yBottom }, svg);
  return step => { marker.setAttribute("x1", toX(step)); marker.setAttribute("x2", toX(step)); };
}
const moveLossMarker = drawCurve(document.getElementById("loss"), "loss", "loss-line", null);
const moveAccuracyMarker = drawCurve(document.getElementById("accuracy"), "accuracy", "accuracy-line", [0, 1]);

function show(k) {
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
