// The annotation page: one pair at a time, answered by keyboard or buttons. Each answer is POSTed and the next pair
// is fetched only after the server says it is stored, so what the annotator saw as answered is in the database.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { name: null, pair: null, shownAt: 0, busy: false };

function show(id, visible) { $(id).hidden = !visible; }

function say(text, isError) {
  const s = $("status");
  s.textContent = text;
  s.classList.toggle("error", !!isError);
}

async function problemText(response) {
  try { const p = await response.json(); return p.detail || p.title || response.statusText; }
  catch { return response.statusText; }
}

function start(name) {
  state.name = name;
  localStorage.setItem("hps-annotator", name);
  $("who-name").textContent = name;
  show("login", false);
  show("who", true);
  show("progress-wrap", true);
  loadNext();
}

function setProgress(done, total) {
  $("progress").max = Math.max(total, 1);
  $("progress").value = done;
  $("progress-label").textContent = `${done} of ${total} pairs`;
}

async function loadNext() {
  state.busy = true;
  say("Loading…");
  try {
    const r = await fetch(`/api/next?annotator=${encodeURIComponent(state.name)}`, { cache: "no-store" });
    if (r.status === 204) {
      state.pair = null;
      show("task", false);
      show("done", true);
      const p = await fetch(`/api/progress?annotator=${encodeURIComponent(state.name)}`, { cache: "no-store" });
      if (p.ok) { const j = await p.json(); setProgress(j.done, j.total); }
      say("");
      return;
    }
    if (!r.ok) { say(`Could not load the next pair: ${await problemText(r)}`, true); return; }
    const pair = await r.json();
    await Promise.all([setImage("left", pair.left), setImage("right", pair.right)]);
    state.pair = pair;
    $("prompt").textContent = pair.prompt;
    setProgress(pair.done, pair.total);
    show("done", false);
    show("task", true);
    state.shownAt = performance.now();
    say("");
    $("choose-left").focus({ preventScroll: true });
  } catch (e) {
    say(`Network error: ${e.message}. Press any choice key to retry.`, true);
  } finally {
    state.busy = false;
  }
}

function setImage(id, url) {
  // Resolve when the image has loaded (or failed), so the time taken starts when both are on screen.
  return new Promise((resolve) => {
    const img = $(id);
    img.onload = img.onerror = () => resolve();
    img.src = url;
  });
}

async function answer(choice) {
  if (state.busy) return;
  if (!state.pair) { if (state.name) loadNext(); return; }
  state.busy = true;
  const body = {
    pair_id: state.pair.pair_id,
    annotator: state.name,
    choice,
    ms: Math.max(0, Math.round(performance.now() - state.shownAt)),
  };
  say("Saving…");
  setButtons(false);
  try {
    const r = await fetch("/api/judgement", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!r.ok && r.status !== 409) { say(`Not saved: ${await problemText(r)}`, true); state.busy = false; return; }
    // 409 means this pair was already answered (another tab): move on either way.
    state.busy = false;
    await loadNext();
  } catch (e) {
    say(`Not saved (network error: ${e.message}). Answer again to retry.`, true);
    state.busy = false;
  } finally {
    setButtons(true);
  }
}

function setButtons(enabled) {
  for (const id of ["choose-left", "choose-right", "choose-tie", "choose-skip"]) $(id).disabled = !enabled;
}

function zoom(which) {
  const box = $("zoom-images");
  box.replaceChildren();
  for (const side of which) {
    const fig = document.createElement("figure");
    const img = document.createElement("img");
    img.src = $(side).src;
    img.alt = `${side === "left" ? "Left" : "Right"} image at full size`;
    const cap = document.createElement("figcaption");
    cap.textContent = side === "left" ? "Left" : "Right";
    fig.append(cap, img);
    box.append(fig);
  }
  $("zoom").showModal();
  $("zoom-close").focus();
}

document.addEventListener("keydown", (e) => {
  if ($("zoom").open || e.altKey || e.ctrlKey || e.metaKey) return;
  const t = e.target;
  if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement) return;
  if ($("task").hidden) return;
  const keys = { ArrowLeft: "left", ArrowRight: "right", ArrowDown: "tie", " ": "skip" };
  if (e.key in keys) {
    e.preventDefault();
    answer(keys[e.key]);
  } else if (e.key === "z" || e.key === "Z") {
    e.preventDefault();
    zoom(["left", "right"]);
  }
});

document.addEventListener("DOMContentLoaded", () => {
  $("choose-left").addEventListener("click", () => answer("left"));
  $("choose-right").addEventListener("click", () => answer("right"));
  $("choose-tie").addEventListener("click", () => answer("tie"));
  $("choose-skip").addEventListener("click", () => answer("skip"));
  $("zoom-left").addEventListener("click", () => zoom(["left"]));
  $("zoom-right").addEventListener("click", () => zoom(["right"]));
  // Buttons would also fire on Space/Enter: keep Space as "skip" everywhere, not "press the focused button".
  for (const b of document.querySelectorAll(".choices button, .zoom")) {
    b.addEventListener("keydown", (e) => { if (e.key === " ") e.preventDefault(); });
    b.addEventListener("keyup", (e) => { if (e.key === " ") e.preventDefault(); });
  }
  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = $("name").value.trim();
    if (name) start(name);
  });
  $("switch").addEventListener("click", () => {
    localStorage.removeItem("hps-annotator");
    state.name = null; state.pair = null;
    show("task", false); show("done", false); show("who", false); show("progress-wrap", false);
    show("login", true);
    $("name").focus();
  });
  const saved = new URLSearchParams(location.search).get("annotator") || localStorage.getItem("hps-annotator");
  if (saved) { start(saved); } else { show("login", true); $("name").focus(); }
});
