// The Vary (Region) editor: shapes are kept as fractions of the image's width and height, so the
// bot draws the mask at the image's own resolution (docs/mask-editor.md).
"use strict";

const base = location.pathname.replace(/\/+$/, "");
const image = document.getElementById("image");
const canvas = document.getElementById("canvas");
const ctx = canvas.getContext("2d");
const promptBox = document.getElementById("prompt");
const submitButton = document.getElementById("submit");
const undoButton = document.getElementById("undo");
const clearButton = document.getElementById("clear");
const statusLine = document.getElementById("status");
const brushSize = document.getElementById("brush-size");
const toolButtons = Array.from(document.querySelectorAll("[data-tool]"));

const shapes = [];
let tool = "rect";
let drawing = null;
let sent = false;

function say(text, isError) {
  statusLine.textContent = text;
  statusLine.className = isError ? "error" : "";
}

function point(event) {
  const box = canvas.getBoundingClientRect();
  // Five decimals are finer than a pixel of the largest image, and keep the submit small.
  const clamp = (v) => Math.round(Math.min(1, Math.max(0, v)) * 1e5) / 1e5;
  return [clamp((event.clientX - box.left) / box.width), clamp((event.clientY - box.top) / box.height)];
}

function fit() {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(canvas.clientWidth * ratio);
  canvas.height = Math.round(canvas.clientHeight * ratio);
  render();
}

function trace(shape) {
  const w = canvas.width, h = canvas.height;
  ctx.beginPath();
  if (shape.kind === "rect") {
    ctx.rect(shape.x0 * w, shape.y0 * h, (shape.x1 - shape.x0) * w, (shape.y1 - shape.y0) * h);
    ctx.fill();
    ctx.stroke();
  } else if (shape.kind === "lasso") {
    shape.points.forEach(([x, y], i) => (i ? ctx.lineTo(x * w, y * h) : ctx.moveTo(x * w, y * h)));
    ctx.closePath();
    ctx.fill();
    ctx.stroke();
  } else {
    ctx.save();
    ctx.lineWidth = shape.size * w;
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.strokeStyle = ctx.fillStyle;
    shape.points.forEach(([x, y], i) => (i ? ctx.lineTo(x * w, y * h) : ctx.moveTo(x * w, y * h)));
    if (shape.points.length === 1) ctx.lineTo(shape.points[0][0] * w + 0.01, shape.points[0][1] * h);
    ctx.stroke();
    ctx.restore();
  }
}

function render() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "rgba(88, 101, 242, 0.45)";
  ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
  ctx.lineWidth = 2;
  for (const shape of drawing ? [...shapes, drawing] : shapes) trace(shape);
  undoButton.disabled = sent || shapes.length === 0;
  clearButton.disabled = sent || shapes.length === 0;
  submitButton.disabled = sent || shapes.length === 0;
}

function begin(event) {
  if (sent || event.button > 0) return;
  canvas.setPointerCapture(event.pointerId);
  const [x, y] = point(event);
  if (tool === "rect") drawing = { kind: "rect", x0: x, y0: y, x1: x, y1: y };
  else if (tool === "lasso") drawing = { kind: "lasso", points: [[x, y]] };
  else drawing = { kind: "brush", size: Number(brushSize.value) / 100, points: [[x, y]] };
  render();
}

function extend(event) {
  if (!drawing) return;
  const [x, y] = point(event);
  if (drawing.kind === "rect") {
    drawing.x1 = x;
    drawing.y1 = y;
  } else {
    const [px, py] = drawing.points[drawing.points.length - 1];
    if (Math.hypot(x - px, y - py) < 0.002 || drawing.points.length >= 2000) return;
    drawing.points.push([x, y]);
  }
  render();
}

function finish(event) {
  if (!drawing) return;
  extend(event);
  const shape = drawing;
  drawing = null;
  if (shape.kind === "rect") {
    const [x0, x1] = [shape.x0, shape.x1].sort((a, b) => a - b);
    const [y0, y1] = [shape.y0, shape.y1].sort((a, b) => a - b);
    if (x1 - x0 > 0.002 && y1 - y0 > 0.002) shapes.push({ kind: "rect", x0, y0, x1, y1 });
  } else if (shape.kind === "lasso") {
    if (shape.points.length >= 3) shapes.push(shape);
  } else {
    shapes.push(shape);
  }
  render();
}

async function submit() {
  submitButton.disabled = true;
  say("Sending…", false);
  try {
    const response = await fetch(base, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ prompt: promptBox.value, shapes }),
    });
    const answer = await response.json();
    if (!response.ok) {
      say(answer.error || "The edit could not be sent. Try again.", true);
      submitButton.disabled = false;
      return;
    }
    sent = true;
    promptBox.disabled = true;
    toolButtons.forEach((b) => (b.disabled = true));
    statusLine.className = "";
    statusLine.textContent = answer.text + " ";
    const back = document.createElement("a");
    back.href = answer.url;
    back.textContent = "Back to Discord";
    statusLine.append(back);
    render();
  } catch (error) {
    say("The bot could not be reached. Check your connection and try again.", true);
    submitButton.disabled = false;
  }
}

for (const button of toolButtons) {
  button.addEventListener("click", () => {
    tool = button.dataset.tool;
    toolButtons.forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
  });
}
undoButton.addEventListener("click", () => { shapes.pop(); render(); });
clearButton.addEventListener("click", () => { shapes.length = 0; render(); });
submitButton.addEventListener("click", submit);
canvas.addEventListener("pointerdown", begin);
canvas.addEventListener("pointermove", extend);
canvas.addEventListener("pointerup", finish);
canvas.addEventListener("pointercancel", () => { drawing = null; render(); });
new ResizeObserver(fit).observe(canvas);

image.addEventListener("load", () => { document.body.dataset.ready = "true"; fit(); });
image.addEventListener("error", () => say("The image could not be loaded. Reload the page.", true));
image.src = `${base}/image`;
fetch(`${base}/job`)
  .then((r) => r.json().then((body) => ({ ok: r.ok, body })))
  .then(({ ok, body }) => (ok ? (promptBox.value = body.prompt) : say(body.error, true)))
  .catch(() => say("The bot could not be reached. Reload the page.", true));
