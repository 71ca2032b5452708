const BOX_W = 170, BOX_H = 58, COLUMN_GAP = 90, ROW_GAP = 24, PAD = 20;
const nodes = DATA.nodes, steps = DATA.steps;
const byIndex = {};
nodes.forEach(n => { byIndex[n.index] = n; });

// Numbers as in the text narration: 6 significant digits, no "-0". Python sends nan and the
// infinities as the words "nan", "inf", "-inf" (JSON has no number for them): shown as they are.
function num(x) {
  if (typeof x === "string") return x;
  let text = Number(x.toPrecision(6)).toString();
  return text === "-0" ? "0" : text;
}
// A compound name or a negative number gets brackets inside a formula.
function wrap(text) {
  return /^[\w.#]+$|^\w+\([^()]*\)$/.test(text) ? text : "(" + text + ")";
}

// ---- Layout: one column per layer, inputs on the left, the output on the right.
// A node's depth is its longest path up from the leaves; then every node moves as far right
// as its parents allow, so an input used late (a bias) sits next to where it is used,
// and its edge does not run behind other boxes.
const depth = {};
nodes.forEach(n => {  // nodes come in topological order, so children are done first
  depth[n.index] = n.children.length ? 1 + Math.max(...n.children.map(c => depth[c])) : 0;
});
const maxDepth = Math.max(...nodes.map(n => depth[n.index]));
const parents = {};
nodes.forEach(n => n.children.forEach(c => { (parents[c] = parents[c] || []).push(n.index); }));
const layer = {};
nodes.slice().reverse().forEach(n => {
  layer[n.index] = parents[n.index] ? Math.min(...parents[n.index].map(p => layer[p])) - 1 : maxDepth;
});
const columns = [];
for (let d = 0; d <= maxDepth; d++) columns.push([]);
nodes.forEach(n => columns[layer[n.index]].push(n.index));
const row = {};
function numberRows() { columns.forEach(col => col.forEach((id, i) => { row[id] = i; })); }
function mean(ids) { return ids.reduce((s, id) => s + row[id], 0) / ids.length; }
numberRows();
// A few barycentre sweeps: each node moves towards the average row of its neighbours.
for (let sweep = 0; sweep < 4; sweep++) {
  for (let d = maxDepth - 1; d >= 0; d--) {
    columns[d].sort((a, b) => (parents[a] ? mean(parents[a]) : row[a]) - (parents[b] ? mean(parents[b]) : row[b]));
    numberRows();
  }
  for (let d = 1; d <= maxDepth; d++) {
    columns[d].sort((a, b) => mean(byIndex[a].children) - mean(byIndex[b].children));
    numberRows();
  }
}
const tallest = Math.max(...columns.map(c => c.length));
const position = {};
columns.forEach((col, d) => {
  const offset = (tallest - col.length) * (BOX_H + ROW_GAP) / 2;  // centre short columns
  col.forEach((id, i) => {
    position[id] = { x: PAD + d * (BOX_W + COLUMN_GAP), y: PAD + offset + i * (BOX_H + ROW_GAP) };
  });
});

// ---- Drawing, once; stepping only changes classes and texts.
const svg = document.getElementById("graph");
const width = PAD * 2 + (maxDepth + 1) * BOX_W + maxDepth * COLUMN_GAP;
const height = PAD * 2 + tallest * (BOX_H + ROW_GAP) - ROW_GAP;
svg.setAttribute("width", width);
svg.setAttribute("height", height);
svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
const edgeLayer = make("g", {}, svg), opLayer = make("g", {}, svg), nodeLayer = make("g", {}, svg);
const edgeElements = {};  // "child-parent" -> path, so a step can light up its edge
const nodeElements = {}, gradTexts = {};
nodes.forEach(n => {
  const p = position[n.index];
  if (n.children.length) {
    const opX = p.x - COLUMN_GAP / 2, opY = p.y + BOX_H / 2;
    n.children.forEach(c => {
      const q = position[c];
      const x1 = q.x + BOX_W, y1 = q.y + BOX_H / 2;
      edgeElements[c + "-" + n.index] = make("path", {
        class: "edge", d: `M${x1},${y1} C${x1 + 30},${y1} ${opX - 30},${opY} ${opX - 18},${opY}`,
      }, edgeLayer);
    });
    make("path", { class: "edge", d: `M${opX + 18},${opY} L${p.x},${opY}` }, edgeLayer);
    const op = make("g", { class: "op" }, opLayer);
    make("ellipse", { cx: opX, cy: opY, rx: Math.max(16, 4 + 4 * n.op.length), ry: 14 }, op);
    make("text", { x: opX, y: opY + 4, "text-anchor": "middle" }, op, n.op);
  }
  const group = make("g", {
    class: "node" + (n.constant ? " constant" : ""), id: "node-" + n.index, "data-name": n.name,
  }, nodeLayer);
  make("rect", { x: p.x, y: p.y, width: BOX_W, height: BOX_H, rx: 6 }, group);
  const label = n.name.length > 20 ? n.name.slice(0, 19) + "\u2026" : n.name;
  make("title", {}, group, n.formula ? n.name + " = " + n.formula : n.name);  // full name on hover
  make("text", { class: "name", x: p.x + 8, y: p.y + 17 }, group, label);
  const dataClass = typeof n.data === "string" ? "data non-finite" : "data";  // nan/inf: marked, not hidden
  make("text", { class: dataClass, x: p.x + 8, y: p.y + 34 }, group, "data " + num(n.data));
  gradTexts[n.index] = make("text", { class: "grad", x: p.x + 8, y: p.y + 50 }, group, "grad ?");
  nodeElements[n.index] = group;
});

// ---- Stepping. State k: the seed and the first k chain-rule steps have happened.
let state = 0, timer = null;
const root = byIndex[DATA.root];
const panel = document.getElementById("panel");
const counter = document.getElementById("step-counter");
function escapeHtml(text) {
  return text.replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
}
function heading(node) {  // "n = a + b", or just the name when the formula is the name already (or none)
  if (!node.formula) return node.name;
  const same = node.name.replace(/ /g, "") === node.formula.replace(/ /g, "");
  return same ? node.name : node.name + " = " + node.formula;
}
function show(k) {
  state = Math.max(0, Math.min(steps.length, k));
  // Gradients as they stand after k steps: the seed, then each step's running total.
  const grad = {};
  grad[DATA.root] = 1;
  for (let i = 0; i < state; i++) grad[steps[i].child] = steps[i].after;
  nodes.forEach(n => {
    const known = n.index in grad;
    gradTexts[n.index].textContent = "grad " + (known ? num(grad[n.index]) : "?");
    gradTexts[n.index].classList.toggle("non-finite", known && typeof grad[n.index] === "string");
    nodeElements[n.index].classList.toggle("has-grad", known);
    nodeElements[n.index].classList.remove("current", "source");
  });
  Object.values(edgeElements).forEach(e => e.classList.remove("active"));
  counter.textContent = `Step ${state} of ${steps.length}`;
  const R = escapeHtml(root.name);
  if (state === 0) {
    nodeElements[DATA.root].classList.add("current");
    panel.innerHTML = `<div class="chain">The seed: <b>${R}.grad = d${wrap(R)}/d${wrap(R)} = 1</b></div>
      <div>Each step passes a node's grad to one of its inputs:
      <code>input.grad += (local derivative) &times; node.grad</code>. Press &rarr; to start.</div>`;
    return;
  }
  const s = steps[state - 1];
  const parent = byIndex[s.parent], child = byIndex[s.child];
  nodeElements[s.child].classList.add("current");
  nodeElements[s.parent].classList.add("source");
  const edge = edgeElements[s.child + "-" + s.parent];
  if (edge) edge.classList.add("active");
  const P = escapeHtml(wrap(parent.name)), C = escapeHtml(wrap(child.name));
  const rule = s.rule === num(s.local) ? num(s.local) : `${escapeHtml(s.rule)} = ${num(s.local)}`;
  const accumulated = s.before !== 0
    ? `<div>${C} was already used elsewhere, so the contributions add up.</div>` : "";
  const finished = state === steps.length
    ? `<div><b>Done:</b> every gradient is filled in.</div>` : "";
  // The local derivative above is written in the graph's names. The row's own statement of the
  // rule names the op's inputs with letters of its own (d/da = b for *), which could be read as
  // the user's names: it is shown only where the rule could not be written out, and says whose.
  const opRule = parent.rule && !parent.rule_written
    ? `<div class="op-rule">the rule of ${escapeHtml(parent.op)}, in the op's own letters (not the graph's names):
      <span class="mono">${escapeHtml(parent.rule)}</span></div>`
    : "";
  if (s.how === "nothing") {  // a node made by hand, without a local derivative for this input
    panel.innerHTML = `
      <div>${escapeHtml(heading(parent))} &nbsp; was made by hand, with no local derivative for
        <b class="child-name">${escapeHtml(child.name)}</b>: it passes nothing back, as backward does.</div>
      <div class="numbers mono">${C}.grad stays <b class="shown-grad">${num(s.after)}</b></div>
      ${finished}`;
    return;
  }
  if (s.how === "own _backward") {  // a _backward function set on the node by hand
    panel.innerHTML = `
      <div>${escapeHtml(heading(parent))} &nbsp; has its own <code>_backward</code> function; it changed
        the grad of <b class="child-name">${escapeHtml(child.name)}</b>.</div>
      <div class="numbers mono">${C}.grad = ${num(s.before)} + ${wrap(num(s.product))}
        = <b class="shown-grad">${num(s.after)}</b></div>
      ${accumulated}${finished}`;
    return;
  }
  panel.innerHTML = `
    <div>${escapeHtml(heading(parent))} &nbsp; passes its grad to
      <b class="child-name">${escapeHtml(child.name)}</b></div>
    <div class="chain mono">d${wrap(R)}/d${C} += d${P}/d${C} &times; d${wrap(R)}/d${P}</div>
    <div class="chain mono">local derivative: d${P}/d${C} = ${rule}</div>
    ${opRule}
    <div class="numbers mono">${C}.grad = ${num(s.before)} + ${num(s.local)} &times; ${wrap(num(s.upstream))}
      = <b class="shown-grad">${num(s.after)}</b></div>
    ${accumulated}${finished}`;
}
function play() {
  if (timer) { clearInterval(timer); timer = null; playButton.innerHTML = "&#x25B6; play"; return; }
  if (state === steps.length) show(0);
  playButton.innerHTML = "&#x2016; pause";
  timer = setInterval(() => {
    show(state + 1);
    if (state >= steps.length) play();  // stop as soon as the last step is shown
  }, 900);
}
const playButton = document.getElementById("play");
playButton.onclick = play;
document.getElementById("first").onclick = () => show(0);
document.getElementById("back").onclick = () => show(state - 1);
document.getElementById("next").onclick = () => show(state + 1);
document.getElementById("last").onclick = () => show(steps.length);
document.addEventListener("keydown", event => {
  const actions = {
    ArrowRight: () => show(state + 1), ArrowLeft: () => show(state - 1),
    Home: () => show(0), End: () => show(steps.length), " ": play,
  };
  if (actions[event.key]) { event.preventDefault(); actions[event.key](); }
});
show(0);
