/* mgbp-classic explore: the page. Plain JavaScript, no build step, no outside resources.
 *
 * Two sources of data behind one interface:
 *  - the local server (mgbp-classic explore IMAGE): /api/state, /api/image/*.png, /api/filter, rows computed on
 *    demand, in-flight requests aborted (AbortController) when the mouse moves on;
 *  - a static export (mgbp-classic explore IMAGE --export DIR): window.EXPLORE_STATIC from data.js, filters
 *    precomputed on a grid of pixels, the pointer snapped to the nearest grid pixel.
 *
 * What the page draws is kept in window.explore (window.explore.drawn.filter is the exact array the effective-filter
 * panel was drawn from) and summarised in data-* attributes of #filter-panel, so tests can read it.
 */
"use strict";

(function () {
  const STATIC = window.EXPLORE_STATIC || null;
  const $ = (id) => document.getElementById(id);
  const app = {
    info: null, levels: 2, mu: 2, mode: "luma", meta: null,
    images: {}, view: { zoom: 1, cx: 0, cy: 0 }, tab: "images",
    hover: null, pinned: null, current: null, drawn: null,
    cache: new Map(), controller: null, inflightKey: null, timer: null, stateToken: 0,
  };
  window.explore = app;

  // ---------------------------------------------------------------- colour map (matplotlib RdBu_r, 11 anchors)
  const RDBU = ["#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7",
                "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f"].map((h) =>
    [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
  function diverging(v, vmax) {               // v in [-vmax, vmax] -> "rgb(...)"
    let t = vmax > 0 ? Math.max(-1, Math.min(1, v / vmax)) : 0;
    t = (t + 1) / 2 * (RDBU.length - 1);
    const i = Math.min(Math.floor(t), RDBU.length - 2), f = t - i;
    const c = RDBU[i].map((a, k) => Math.round(a + f * (RDBU[i + 1][k] - a)));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }

  // ---------------------------------------------------------------- data sources
  function stateKey(levels, mu) { return `${levels},${mu}`; }
  function filterKey(levels, mu, mode, y, x) { return `${levels},${mu},${mode},${y},${x}`; }

  async function fetchText(url, signal) {
    const r = await fetch(url, { signal, cache: "no-store" });
    const body = await r.text();
    if (!r.ok) throw new Error(body.trim() || `${r.status} ${r.statusText}`);
    return body;
  }

  const source = STATIC ? {
    info: async () => STATIC.info,
    state: async (levels, mu) => {
      const s = STATIC.states[stateKey(levels, mu)];
      if (!s) throw new Error(`not exported: levels ${levels}, mu ${mu}`);
      return s.meta;
    },
    imageUrl: (kind, levels, mu) => kind === "input" ? STATIC.images.input : STATIC.states[stateKey(levels, mu)].images[kind],
    filter: async (levels, mu, mode, y, x) => {
      const s = STATIC.states[stateKey(levels, mu)];
      const f = s && s.filters[mode] && s.filters[mode][`${y},${x}`];
      if (!f) throw new Error(`pixel ${x},${y} was not exported`);
      return f;
    },
    snap: (y, x) => {                           // nearest exported pixel
      const grid = STATIC.states[stateKey(app.levels, app.mu)].grid;
      let best = grid[0], bd = Infinity;
      for (const p of grid) {
        const d = (p[0] - y) ** 2 + (p[1] - x) ** 2;
        if (d < bd) { bd = d; best = p; }
      }
      return best;
    },
  } : {
    info: async () => JSON.parse(await fetchText("api/info")),
    state: async (levels, mu) => JSON.parse(await fetchText(`api/state?levels=${levels}&mu=${mu}`)),
    imageUrl: (kind, levels, mu) => kind === "input" ? "api/image/input.png" : `api/image/${kind}.png?levels=${levels}&mu=${mu}`,
    filter: async (levels, mu, mode, y, x, signal) =>
      JSON.parse(await fetchText(`api/filter?levels=${levels}&mu=${mu}&y=${y}&x=${x}&mode=${mode}`, signal)),
    snap: (y, x) => [y, x],
  };

  function loadImage(url) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error(`could not load ${url}`));
      img.src = url;
    });
  }

  function setStatus(text, status) {
    const el = $("status");
    el.textContent = text;
    el.dataset.status = status;
  }

  // ---------------------------------------------------------------- zoomable panels
  const PANELS = ["input", "output", "bicubic", "residual"];
  function canvasOf(kind) { return $(`c-${kind}`); }

  function sizeCanvases() {
    const visible = PANELS.filter((k) => !canvasOf(k).parentElement.classList.contains("hidden"));
    const width = $("panels").clientWidth;
    const side = Math.max(200, Math.min(440, Math.floor((width - 16 * visible.length) / visible.length)));
    const dpr = window.devicePixelRatio || 1;
    for (const k of PANELS) {
      const c = canvasOf(k);
      c.style.width = `${side}px`;
      c.style.height = `${side}px`;
      c.width = Math.round(side * dpr);
      c.height = Math.round(side * dpr);
    }
  }

  function fit() {
    if (!app.meta) return;
    const c = canvasOf("output");
    const side = c.clientWidth || 360;
    app.view.zoom = Math.min(side / app.meta.width, side / app.meta.height);
    app.view.cx = app.meta.width / 2;
    app.view.cy = app.meta.height / 2;
    drawPanels();
  }

  function drawPanels() {
    if (!app.meta) return;
    const s = app.meta.scale, v = app.view;
    for (const k of PANELS) {
      const c = canvasOf(k), ctx = c.getContext("2d");
      const dpr = c.width / (c.clientWidth || c.width);
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillStyle = "#d9d9d9";
      ctx.fillRect(0, 0, c.width, c.height);
      const img = app.images[k];
      const z = v.zoom * dpr, ox = c.width / 2 - v.cx * z, oy = c.height / 2 - v.cy * z;
      ctx.setTransform(z, 0, 0, z, ox, oy);
      ctx.imageSmoothingEnabled = false;
      if (img) {
        if (k === "input") ctx.drawImage(img, 0, 0, img.width * s, img.height * s);
        else ctx.drawImage(img, 0, 0);
      }
      drawMarkers(ctx, k, z);
    }
  }

  function drawMarkers(ctx, kind, z) {
    const lw = 1.5 / z;
    if (STATIC && app.meta && kind !== "input") {       // the exported pixels
      const grid = STATIC.states[stateKey(app.levels, app.mu)].grid;
      ctx.fillStyle = "rgba(255,255,0,0.8)";
      const r = Math.max(1.5 / z, 0.5);
      for (const [y, x] of grid) ctx.fillRect(x + 0.5 - r, y + 0.5 - r, 2 * r, 2 * r);
    }
    const p = app.pinned || app.hover;
    if (!p) return;
    const [y, x] = p;
    const m = Math.max(1, 5 / z);
    ctx.lineWidth = lw;
    ctx.strokeStyle = app.pinned ? "#00e5ff" : "#ffea00";
    ctx.strokeRect(x + 0.5 - m, y + 0.5 - m, 2 * m, 2 * m);
    const f = app.current;
    if (kind === "input" && f && f.pixel[0] === y && f.pixel[1] === x && f.levels === app.levels) {
      const s = f.scale, [cy, cx] = f.center, r = f.radius99;
      ctx.setLineDash([4 / z, 3 / z]);
      ctx.strokeRect((cx - r) * s, (cy - r) * s, (2 * r + 1) * s, (2 * r + 1) * s);
      ctx.setLineDash([]);
    }
  }

  function pixelAt(canvas, ev) {
    const rect = canvas.getBoundingClientRect(), v = app.view;
    const px = (ev.clientX - rect.left - rect.width / 2) / v.zoom + v.cx;
    const py = (ev.clientY - rect.top - rect.height / 2) / v.zoom + v.cy;
    const x = Math.floor(px), y = Math.floor(py);
    if (!app.meta || x < 0 || y < 0 || x >= app.meta.width || y >= app.meta.height) return null;
    return [y, x];
  }

  function zoomAt(canvas, ev, factor) {
    const v = app.view;
    let anchor = null;
    if (ev) {
      const rect = canvas.getBoundingClientRect();
      anchor = [(ev.clientX - rect.left - rect.width / 2), (ev.clientY - rect.top - rect.height / 2)];
    }
    const z = Math.max(0.05, Math.min(64, v.zoom * factor));
    if (anchor) {                                // keep the point under the cursor in place
      v.cx += anchor[0] / v.zoom - anchor[0] / z;
      v.cy += anchor[1] / v.zoom - anchor[1] / z;
    }
    v.zoom = z;
    drawPanels();
  }

  function bindPanel(kind) {
    const c = canvasOf(kind);
    let drag = null;
    c.addEventListener("wheel", (ev) => { ev.preventDefault(); zoomAt(c, ev, ev.deltaY < 0 ? 1.25 : 0.8); }, { passive: false });
    c.addEventListener("mousedown", (ev) => { drag = { x: ev.clientX, y: ev.clientY, cx: app.view.cx, cy: app.view.cy, moved: false }; });
    window.addEventListener("mouseup", () => { setTimeout(() => { drag = null; }, 0); });
    c.addEventListener("mousemove", (ev) => {
      if (drag && (ev.buttons & 1)) {
        const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
        if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
        if (drag.moved) {
          app.view.cx = drag.cx - dx / app.view.zoom;
          app.view.cy = drag.cy - dy / app.view.zoom;
          drawPanels();
          return;
        }
      }
      if (app.pinned) return;
      const p = pixelAt(c, ev);
      if (!p) return;
      const q = source.snap(p[0], p[1]);
      if (app.hover && app.hover[0] === q[0] && app.hover[1] === q[1]) return;
      app.hover = q;
      drawPanels();
      schedule(q, 90);
    });
    c.addEventListener("click", (ev) => {
      if (drag && drag.moved) return;
      const p = pixelAt(c, ev);
      if (!p) return;
      const q = source.snap(p[0], p[1]);
      app.pinned = q;
      app.hover = null;
      drawPanels();
      schedule(q, 0);
    });
  }

  // ---------------------------------------------------------------- filters
  function schedule(p, delay) {
    clearTimeout(app.timer);
    const key = filterKey(app.levels, app.mu, app.mode, p[0], p[1]);
    if (app.cache.has(key)) { abortInflight(); show(app.cache.get(key)); return; }
    app.timer = setTimeout(() => request(p), delay);
  }

  function abortInflight() {
    if (app.controller) { app.controller.abort(); app.controller = null; app.inflightKey = null; }
  }

  async function request(p) {
    const [y, x] = p, levels = app.levels, mu = app.mu, mode = app.mode;
    const key = filterKey(levels, mu, mode, y, x);
    if (app.inflightKey === key) return;
    abortInflight();                              // the mouse moved on: drop the previous request
    const controller = new AbortController();
    app.controller = controller;
    app.inflightKey = key;
    const panel = $("filter-panel");
    panel.dataset.status = "loading";
    setStatus(`computing the filter of pixel (${x}, ${y})…`, "busy");
    try {
      const f = await source.filter(levels, mu, mode, y, x, controller.signal);
      app.cache.set(key, f);
      if (app.controller === controller) { app.controller = null; app.inflightKey = null; }
      const want = app.pinned || app.hover;
      if (want && want[0] === y && want[1] === x && levels === app.levels && mu === app.mu && mode === app.mode) show(f);
    } catch (err) {
      if (err.name === "AbortError") return;
      if (app.controller === controller) { app.controller = null; app.inflightKey = null; }
      panel.dataset.status = "error";
      setStatus(err.message, "error");
    }
  }

  function fmt(v, d = 4) {
    if (v === undefined || v === null) return "";
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e4) ? v.toExponential(2) : v.toFixed(d);
  }

  function maxAbs(arrays) {
    let m = 0;
    for (const a of arrays) for (const row of a) for (const v of row) m = Math.max(m, Math.abs(v));
    return m || 1;
  }

  function drawFilter(canvas, arr, vmax, f, opts = {}) {
    const ctx = canvas.getContext("2d");
    const rad = f.radius, n = 2 * rad + 1;
    const cell = Math.max(1, Math.floor(Math.min(canvas.width, canvas.height) / n));
    const off = Math.floor((canvas.width - cell * n) / 2);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    const [y0, , x0] = f.window, [cy, cx] = f.center;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const row = arr[cy - rad + i - y0], v = row === undefined ? undefined : row[cx - rad + j - x0];
        ctx.fillStyle = v === undefined ? "#d9d9d9" : diverging(v, vmax);
        ctx.fillRect(off + j * cell, off + i * cell, cell, cell);
      }
    }
    const mid = off + rad * cell + cell / 2;
    const px = mid + f.offset[1] * cell, py = mid + f.offset[0] * cell;
    for (const [colour, width] of [["#fff", 3], ["#000", 1]]) {   // a black + with a white rim
      ctx.strokeStyle = colour;
      ctx.lineWidth = width;
      ctx.beginPath();
      ctx.moveTo(px - 4, py); ctx.lineTo(px + 4, py); ctx.moveTo(px, py - 4); ctx.lineTo(px, py + 4);
      ctx.stroke();
    }
    if (opts.radius !== undefined && opts.radius < rad) {
      const r = opts.radius;
      ctx.setLineDash([3, 2]);
      ctx.strokeRect(off + (rad - r) * cell + 0.5, off + (rad - r) * cell + 0.5, (2 * r + 1) * cell - 1, (2 * r + 1) * cell - 1);
      ctx.setLineDash([]);
    }
  }

  function small(f, arr, vmax, title, radius) {
    const fig = document.createElement("figure");
    const cap = document.createElement("figcaption");
    cap.textContent = title;
    const c = document.createElement("canvas");
    c.width = 96; c.height = 96;
    fig.append(cap, c);
    drawFilter(c, arr, vmax, f, { radius });
    return fig;
  }

  function rowsToTable(table, rows) {
    table.replaceChildren(...rows.map((cells) => {
      const tr = document.createElement("tr");
      cells.forEach((text, i) => {
        const td = document.createElement(i === 0 ? "th" : "td");
        td.textContent = text;
        tr.append(td);
      });
      return tr;
    }));
  }

  function show(f) {
    app.current = f;
    const vf = maxAbs([f.filter, f.bicubic]), vd = maxAbs([f.difference]);
    drawFilter($("f-net"), f.filter, vf, f, { radius: f.radius99 });
    drawFilter($("f-bic"), f.bicubic, vf, f, { radius: f.bicubic_radius99 });
    drawFilter($("f-diff"), f.difference, vd, f);
    app.drawn = { pixel: f.pixel, levels: f.levels, mu: f.mu, mode: f.mode, window: f.window,
                  filter: f.filter, bicubic: f.bicubic, difference: f.difference, scale: vf };
    const [y, x] = f.pixel, [cy, cx] = f.center;
    $("pixel-title").textContent = `output pixel (x ${x}, y ${y}) at ×${f.scale}, µ = ${f.mu}: over input pixel (x ${cx}, y ${cy})`;
    $("cap-f").textContent = `effective filter (${f.mode === "luma" ? "luma" : "luma of the colour grid"}) ±${fmt(vf, 3)}`;
    $("cap-b").textContent = `bicubic ×${f.scale}, same scale`;
    $("cap-d").textContent = `difference, ±${fmt(vd, 3)}`;
    rowsToTable($("numbers"), [
      ["", "network", "bicubic", "difference"],
      ["Σ f (response to a flat image)", fmt(f.sum), fmt(f.bicubic_sum), fmt(f.sum - f.bicubic_sum)],
      ["Σ |f| (noise gain)", fmt(f.abs_sum), fmt(f.bicubic_abs_sum), fmt(f.difference_abs_sum)],
      ["99% radius (input pixels)", String(f.radius99), String(f.bicubic_radius99), ""],
      ["R at the pixel (R, G, B)", f.residual.map((v) => fmt(v)).join(", "), "0", ""],
    ]);
    const box = $("channels");
    box.replaceChildren();
    if (f.mode === "luma") {
      $("channels-title").textContent = "its three input channels (output luma against a δ in R, G, B)";
      const v = maxAbs(f.channels);
      ["R", "G", "B"].forEach((name, c) => box.append(small(f, f.channels[c], v, `${name} in, ±${fmt(v, 3)}`, f.radius99)));
    } else {
      $("channels-title").textContent = "colour grid F[out, in] (rows: output R, G, B; columns: input R, G, B; each on its own scale)";
      box.classList.add("grid3");
      ["R", "G", "B"].forEach((o, i) => ["R", "G", "B"].forEach((n, j) => {
        const v = maxAbs([f.channels[i][j]]);
        box.append(small(f, f.channels[i][j], v, `${o}←${n} ±${fmt(v, 3)}`, f.radius99));
      }));
    }
    if (f.mode === "luma") box.classList.remove("grid3");
    const ch = f.check;
    const rows = [["(luma)", "F X", "R", "F X + R", "network", "|F X + R − net|"],
                  ["", fmt(ch.fx, 6), fmt(ch.r, 6), fmt(ch.fx_plus_r, 6), fmt(ch.net, 6), ch.error.toExponential(1)]];
    if (ch.fx_rgb) ["R", "G", "B"].forEach((n, c) => rows.push([n, fmt(ch.fx_rgb[c], 6), fmt(ch.r_rgb[c], 6),
      fmt(ch.fx_rgb[c] + ch.r_rgb[c], 6), fmt(ch.net_rgb[c], 6), ch.error_rgb[c].toExponential(1)]));
    rowsToTable($("check"), rows);
    $("timing").textContent = STATIC ? "precomputed (static export)" :
      (f.cached ? "from the cache" : `computed in ${f.seconds.toFixed(2)} s (windowed backward pass${f.mode === "color" ? "es" : ""})`);
    const panel = $("filter-panel");
    Object.assign(panel.dataset, { status: "ready", pixel: `${y},${x}`, levels: String(f.levels), mu: String(f.mu), mode: f.mode });
    setStatus(`×${f.scale}, µ = ${f.mu}: pixel (${x}, ${y})${app.pinned ? " (pinned)" : ""}`, "ready");
    drawPanels();
  }

  // ---------------------------------------------------------------- states (levels, µ)
  async function loadState() {
    const token = ++app.stateToken;
    abortInflight();
    const levels = app.levels, mu = app.mu;
    setStatus(`computing the network output and R for ×${2 ** levels}, µ = ${mu} (two forward passes)…`, "busy");
    $("filter-panel").dataset.status = "loading";
    const old = app.meta;
    let meta;
    try {
      meta = await source.state(levels, mu);
    } catch (err) {
      setStatus(err.message, "error");
      $("filter-panel").dataset.status = "error";
      return;
    }
    if (token !== app.stateToken) return;
    const kinds = ["input", "output", "bicubic", "residual"];
    let imgs;
    try {
      imgs = await Promise.all(kinds.map((k) => loadImage(source.imageUrl(k, levels, mu))));
    } catch (err) {
      setStatus(err.message, "error");
      return;
    }
    if (token !== app.stateToken) return;
    kinds.forEach((k, i) => { app.images[k] = imgs[i]; });
    app.meta = meta;
    $("cap-output").textContent = `network ×${meta.scale}, µ = ${mu}`;
    $("cap-bicubic").textContent = `bicubic ×${meta.scale}`;
    $("cap-residual").textContent = `effective residual R (luma), max |R| = ${fmt(meta.residual_luma_max, 3)}`;
    $("cb-lo").textContent = `−${fmt(meta.residual_scale, 3)}`;
    $("cb-hi").textContent = `+${fmt(meta.residual_scale, 3)}`;
    const rescale = (p) => {                     // keep the position when the level changes
      if (!p || !old || old.scale === meta.scale) return p;
      const f = meta.scale / old.scale;
      return source.snap(Math.min(meta.height - 1, Math.floor((p[0] + 0.5) * f)), Math.min(meta.width - 1, Math.floor((p[1] + 0.5) * f)));
    };
    if (!old || old.scale !== meta.scale) {
      if (old) { const f = meta.scale / old.scale; app.view.zoom /= f; app.view.cx *= f; app.view.cy *= f; drawPanels(); }
      else fit();
    }
    app.pinned = rescale(app.pinned);
    app.hover = rescale(app.hover);
    drawPanels();
    const p = app.pinned || app.hover;
    if (p) schedule(p, 0);
    else setStatus(`×${meta.scale}, µ = ${mu}: ready (network and R in ${meta.seconds.toFixed(1)} s); point at an output pixel`, "ready");
  }

  function fillSelect(sel, values, value) {
    sel.replaceChildren(...values.map((v) => { const o = document.createElement("option"); o.value = String(v); o.textContent = String(v); return o; }));
    sel.value = String(value);
  }

  function setTab(tab) {
    app.tab = tab;
    $("tab-images").classList.toggle("active", tab === "images");
    $("tab-residual").classList.toggle("active", tab === "residual");
    for (const fig of document.querySelectorAll(".panel")) {
      const k = fig.dataset.kind;
      const on = tab === "images" ? k !== "residual" : k === "output" || k === "residual";
      fig.classList.toggle("hidden", !on);
    }
    $("about-residual").classList.toggle("hidden", tab !== "residual");
    sizeCanvases();
    drawPanels();
  }

  async function main() {
    let info;
    try {
      info = await source.info();
    } catch (err) {
      setStatus(err.message, "error");
      return;
    }
    app.info = info;
    $("what").textContent = `${info.image} (${info.width}×${info.height}) · ${info.model}`;
    let levelsList = info.levels, muList = info.mu;
    if (STATIC) {
      const keys = Object.keys(STATIC.states).map((k) => k.split(",").map(Number));
      levelsList = [...new Set(keys.map((k) => k[0]))].sort();
      muList = [...new Set(keys.map((k) => k[1]))].sort();
      const modes = STATIC.modes || ["luma"];
      for (const o of [...$("mode").options]) if (!modes.includes(o.value)) o.remove();
    }
    app.levels = info.initial.levels;
    app.mu = info.initial.mu;
    fillSelect($("levels"), levelsList, app.levels);
    fillSelect($("mu"), muList, app.mu);
    $("levels").addEventListener("change", (e) => { app.levels = Number(e.target.value); loadState(); });
    $("mu").addEventListener("change", (e) => { app.mu = Number(e.target.value); loadState(); });
    $("mode").addEventListener("change", (e) => { app.mode = e.target.value; const p = app.pinned || app.hover; if (p) schedule(p, 0); });
    $("zoom-in").addEventListener("click", () => zoomAt(null, null, 1.5));
    $("zoom-out").addEventListener("click", () => zoomAt(null, null, 1 / 1.5));
    $("zoom-fit").addEventListener("click", fit);
    $("tab-images").addEventListener("click", () => setTab("images"));
    $("tab-residual").addEventListener("click", () => setTab("residual"));
    PANELS.forEach(bindPanel);
    window.addEventListener("resize", () => { sizeCanvases(); drawPanels(); });
    document.addEventListener("keydown", (ev) => {
      if (ev.target.tagName === "SELECT") return;
      if (ev.key === "Escape") { app.pinned = null; drawPanels(); return; }
      const step = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] }[ev.key];
      if (!step || !app.pinned || !app.meta || STATIC) return;
      ev.preventDefault();
      const y = Math.max(0, Math.min(app.meta.height - 1, app.pinned[0] + step[0]));
      const x = Math.max(0, Math.min(app.meta.width - 1, app.pinned[1] + step[1]));
      app.pinned = [y, x];
      drawPanels();
      schedule(app.pinned, 60);
    });
    sizeCanvases();
    await loadState();
  }

  main();
})();
