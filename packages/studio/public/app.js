/* diff2s studio — the page. Plain JS, no build step, no external resources. */
(function () {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const HOLE_RGB = [255, 92, 122];

  const el = {
    serverState: $('server-state'),
    error: $('error'), errorText: $('error-text'), errorClose: $('error-close'),
    openImage: $('open-image'), openMask: $('open-mask'), maskKnownWhite: $('mask-known-white'),
    toolBrush: $('tool-brush'), toolEraser: $('tool-eraser'),
    brushSize: $('brush-size'), brushSizeOut: $('brush-size-out'),
    undo: $('undo'), redo: $('redo'), clear: $('clear'), invert: $('invert'),
    stage: $('stage'), wrap: $('canvas-wrap'), imageCanvas: $('image-canvas'), maskCanvas: $('mask-canvas'),
    cursor: $('cursor'), empty: $('empty'), imageInfo: $('image-info'), examples: $('examples'),
    openConfig: $('open-config'), configInfo: $('config-info'),
    guide: $('guide'), guideDesc: $('guide-desc'), guideOptions: $('guide-options'), guideJson: $('guide-json'), guideJsonWrap: $('guide-json-wrap'),
    refinerSet: $('refiner-set'), refinerOn: $('refiner-on'), refinerMissing: $('refiner-missing'),
    tk: $('tk'), tkRange: $('tk-range'), sampler: $('sampler'), samplerOptions: $('sampler-options'),
    seed: $('seed'), seedRandom: $('seed-random'), samples: $('samples'), modelRow: $('model-row'), model: $('model'),
    run: $('run'), cancel: $('cancel'),
    progress: $('progress'), progressLabel: $('progress-label'), progressSteps: $('progress-steps'), progressBar: $('progress-bar'),
    previewFig: $('preview-fig'), preview: $('preview'),
    results: $('results'), sampleTabs: $('sample-tabs'), useResult: $('use-result'),
    stage1Fig: $('stage1-fig'), stage2Fig: $('stage2-fig'), stage1Img: $('stage1-img'), stage2Img: $('stage2-img'),
    download1: $('download-stage1'), download2: $('download-stage2'),
    compare: $('compare'), compareBeforeSel: $('compare-before'), compareBefore: $('compare-before-img'),
    canvasResult: $('canvas-result'), canvasBadge: $('canvas-badge'), canvasBadgeText: $('canvas-badge-text'),
    holeCompare: $('hold-compare'), hideResult: $('hide-result'),
    gallery: $('gallery'), galleryWrap: $('gallery-wrap'), galleryConfig: $('gallery-config'), galleryApply: $('gallery-apply'),
    help: $('help'), helpOpen: $('help-open'), helpClose: $('help-close'),
    runMode: $('run-mode'), hdRow: $('hd-row'), hdStrategy: $('hd-strategy'), hdDesc: $('hd-desc'), progressEta: $('progress-eta'),
    zoomIn: $('zoom-in'), zoomOut: $('zoom-out'), zoomFit: $('zoom-fit'), zoomLevel: $('zoom-level'),
    compareAfter: $('compare-after-img'), compareLine: $('compare-line'), compareSlider: $('compare-slider'),
  };

  const state = {
    info: null,
    limits: { maxUploadBytes: Infinity, maxPixels: Infinity },
    width: 0, height: 0, imageName: 'image',
    tool: 'brush',
    undo: [], redo: [],
    drawing: null,
    guideOptions: {},   // guide type -> options object
    samplerOptions: {}, // sampler type -> options object
    job: null,          // { id, es, terminal }
    result: null,       // done payload
    sample: 0,
    inputPreviewUrl: null,
    view: { zoom: 1, x: 0, y: 0 }, // zoom and pan of the canvas (a CSS transform of #canvas-wrap)
    spaceDown: false,
    pan: null,          // { id, x, y, tx, ty } while Space+drag (or middle-drag) pans
    touches: new Map(), // touch pointers on the stage (two: pinch)
    gallery: [],        // every result since the page was opened: { n, d, pipeline, version, input, name }
    galleryCount: 0,
    imageVersion: 0,    // bumped by each new image (results of another image are not shown on the canvas)
  };

  const imageCtx = el.imageCanvas.getContext('2d', { willReadFrequently: true });
  const maskCtx = el.maskCanvas.getContext('2d', { willReadFrequently: true });

  // ---------- errors & status ----------
  function showError(message) {
    el.errorText.textContent = String(message || 'Something went wrong.');
    el.error.hidden = false;
  }
  function clearError() { el.error.hidden = true; el.errorText.textContent = ''; }
  el.errorClose.addEventListener('click', clearError);

  async function readError(res) {
    let msg = `${res.status} ${res.statusText}`;
    try {
      const text = await res.text();
      try {
        const j = JSON.parse(text);
        if (j && j.error) msg = j.error;
      } catch (_) { if (text.trim()) msg = text.trim(); }
    } catch (_) { /* keep status */ }
    return msg;
  }

  async function api(path, init) {
    let res;
    try {
      res = await fetch(path, init);
    } catch (err) {
      throw new Error(`Cannot reach the studio server (${err && err.message ? err.message : err}). Is it still running?`);
    }
    if (!res.ok) throw new Error(await readError(res));
    return res;
  }

  // ---------- startup ----------
  async function init() {
    try {
      const info = await (await api('/api/info')).json();
      state.info = info;
      state.limits = info.limits || state.limits;
      setupForm(info);
      el.serverState.textContent = 'ready';
      el.serverState.className = 'pill ok';
    } catch (err) {
      el.serverState.textContent = 'offline';
      el.serverState.className = 'pill bad';
      showError(`Could not load the studio settings: ${err.message}`);
    }
    loadExamples();
    updateButtons();
  }

  async function loadExamples() {
    try {
      const list = await (await api('/api/examples')).json();
      el.examples.textContent = '';
      if (!list.length) { el.examples.innerHTML = '<span class="muted">No examples shipped.</span>'; return; }
      for (const ex of list) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'example';
        b.dataset.id = ex.id;
        b.title = ex.name;
        const img = document.createElement('img');
        img.src = ex.image;
        img.alt = '';
        const cap = document.createElement('span');
        cap.textContent = ex.name;
        b.append(img, cap);
        b.addEventListener('click', () => loadExample(ex));
        el.examples.append(b);
      }
    } catch (err) {
      el.examples.innerHTML = '';
      const s = document.createElement('span');
      s.className = 'muted';
      s.textContent = `Examples unavailable: ${err.message}`;
      el.examples.append(s);
    }
  }

  async function loadExample(ex) {
    clearError();
    try {
      const img = await loadImageFromUrl(ex.image);
      setImage(img, ex.id);
      if (ex.mask) {
        const m = await loadImageFromUrl(ex.mask);
        applyMaskImage(m, false);
      }
    } catch (err) { showError(`Could not load the example: ${err.message}`); }
  }

  // ---------- image ----------
  function loadImageFromUrl(url) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error('the file is not an image this browser can read'));
      img.src = url;
    });
  }

  async function openImageFile(file) {
    clearError();
    if (!file) return;
    if (file.type && !file.type.startsWith('image/')) { showError(`${file.name} is not an image.`); return; }
    const url = URL.createObjectURL(file);
    try {
      const img = await loadImageFromUrl(url);
      setImage(img, file.name.replace(/\.[^.]*$/, '') || 'image');
    } catch (err) {
      showError(`Could not open ${file.name}: ${err.message}`);
    } finally {
      URL.revokeObjectURL(url);
    }
  }

  function setImage(img, name) {
    const w = img.naturalWidth || img.width, h = img.naturalHeight || img.height;
    if (!w || !h) { showError('The image has no size.'); return false; }
    if (w * h > state.limits.maxPixels) {
      showError(`The image is ${w}×${h} = ${w * h} pixels, over the studio's limit of ${state.limits.maxPixels} pixels. Use a smaller image.`);
      return false;
    }
    state.width = w; state.height = h; state.imageName = name;
    el.imageCanvas.width = w; el.imageCanvas.height = h;
    el.maskCanvas.width = w; el.maskCanvas.height = h;
    imageCtx.clearRect(0, 0, w, h);
    imageCtx.drawImage(img, 0, 0, w, h);
    maskCtx.clearRect(0, 0, w, h);
    state.undo = []; state.redo = [];
    state.inputPreviewUrl = null;
    state.imageVersion++;
    clearResults();
    resetView();
    el.wrap.hidden = false;
    el.empty.hidden = true;
    el.stage.classList.remove('empty');
    fitCanvas();
    updateMaskInfo();
    return true;
  }

  /** A new image: the previous image's results, preview and progress leave the page (a running job's are ignored). */
  function clearResults() {
    state.result = null;
    state.sample = 0;
    el.results.hidden = true;
    el.sampleTabs.textContent = '';
    for (const img of [el.stage1Img, el.stage2Img, el.compareBefore, el.compareAfter]) img.removeAttribute('src');
    el.previewFig.hidden = true;
    el.preview.removeAttribute('src');
    setCanvasResult(null);
    if (state.job && !state.job.terminal) state.job.stale = true;
    else el.progress.hidden = true;
  }

  /** Pointer capture, where the pointer is a real one (synthetic events have none to capture). */
  function capture(target, id) {
    try { target.setPointerCapture(id); } catch (_) { /* not an active pointer */ }
  }

  // ---------- a result on the canvas ----------
  /**
   * Show `url` over the image (stage '1' while the refiner runs, '2' or '1' when done), or nothing (url null). While a
   * result shows, the mask layer is hidden; holding Tab (or the Hold button) shows the input with its mask again.
   */
  function setCanvasResult(url, stage, label) {
    state.canvasResult = url ? { url, stage, label } : null;
    if (url) {
      if (el.canvasResult.getAttribute('src') !== url) el.canvasResult.src = url;
      el.canvasResult.dataset.stage = stage;
      el.canvasBadgeText.textContent = label;
      el.canvasBadge.classList.toggle('pending', stage === '1' && !!(state.job && !state.job.terminal));
    } else {
      el.canvasResult.removeAttribute('src');
      delete el.canvasResult.dataset.stage;
    }
    el.canvasBadge.hidden = !url;
    showCanvasResult(!!url && !state.holdingInput);
  }
  function showCanvasResult(on) {
    el.canvasResult.hidden = !on;
    el.wrap.classList.toggle('showing-result', on);
    el.wrap.dataset.showing = on ? 'result' : 'input';
  }
  function holdInput(on) {
    state.holdingInput = on;
    if (state.canvasResult) showCanvasResult(!on);
  }
  el.holeCompare.addEventListener('pointerdown', (e) => { e.preventDefault(); holdInput(true); });
  for (const t of ['pointerup', 'pointerleave', 'pointercancel']) el.holeCompare.addEventListener(t, () => holdInput(false));
  el.hideResult.addEventListener('click', () => setCanvasResult(null));

  // ---------- zoom & pan ----------
  const MIN_ZOOM = 0.5, MAX_ZOOM = 40;
  function applyView() {
    const v = state.view;
    el.wrap.style.transform = v.zoom === 1 && !v.x && !v.y ? '' : `translate(${v.x}px, ${v.y}px) scale(${v.zoom})`;
    el.wrap.dataset.zoom = String(v.zoom);
    el.zoomLevel.textContent = `${Math.round(v.zoom * 100)}%`;
    sizeCursor();
  }
  /** Zoom to `zoom`, keeping the point under client (cx, cy) where it is. */
  function zoomAt(zoom, cx, cy) {
    const v = state.view;
    const z = Math.max(MIN_ZOOM, Math.min(MAX_ZOOM, zoom));
    const r = el.wrap.getBoundingClientRect();
    const ox = r.left - v.x, oy = r.top - v.y; // the untransformed corner
    const lx = (cx - r.left) / v.zoom, ly = (cy - r.top) / v.zoom; // the local point under the cursor
    v.x = cx - ox - z * lx;
    v.y = cy - oy - z * ly;
    v.zoom = z;
    applyView();
  }
  function zoomBy(factor) {
    const r = el.stage.getBoundingClientRect();
    zoomAt(state.view.zoom * factor, r.left + r.width / 2, r.top + r.height / 2);
  }
  function resetView() {
    state.view = { zoom: 1, x: 0, y: 0 };
    applyView();
  }
  el.stage.addEventListener('wheel', (e) => {
    if (!state.width) return;
    e.preventDefault();
    // a trackpad pinch arrives as a wheel event with ctrlKey
    const k = e.ctrlKey ? 0.01 : 0.0015;
    const dy = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY;
    zoomAt(state.view.zoom * Math.exp(-dy * k), e.clientX, e.clientY);
  }, { passive: false });
  el.zoomIn.addEventListener('click', () => zoomBy(1.25));
  el.zoomOut.addEventListener('click', () => zoomBy(1 / 1.25));
  el.zoomFit.addEventListener('click', resetView);

  // Space+drag or middle-drag pans (captured before the mask canvas paints); two touches pinch-zoom and pan.
  el.stage.addEventListener('pointerdown', (e) => {
    if (!state.width) return;
    if (e.pointerType === 'touch') {
      state.touches.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (state.touches.size === 2) {
        if (state.drawing) { // the first finger's stroke was the start of a pinch: take it back
          state.drawing = null;
          if (state.undo.length) { restore(state.undo.pop()); updateMaskInfo(); }
        }
        const [a, b] = [...state.touches.values()];
        state.pinch = { d: Math.hypot(a.x - b.x, a.y - b.y) || 1, mx: (a.x + b.x) / 2, my: (a.y + b.y) / 2, zoom: state.view.zoom };
        e.stopPropagation();
        return;
      }
    }
    if (state.spaceDown || e.button === 1) {
      e.preventDefault();
      e.stopPropagation();
      state.pan = { id: e.pointerId, x: e.clientX, y: e.clientY, tx: state.view.x, ty: state.view.y };
      capture(el.stage, e.pointerId);
      el.stage.classList.add('panning');
    }
  }, true);
  el.stage.addEventListener('pointermove', (e) => {
    if (state.touches.has(e.pointerId)) {
      state.touches.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (state.pinch && state.touches.size === 2) {
        const [a, b] = [...state.touches.values()];
        const d = Math.hypot(a.x - b.x, a.y - b.y) || 1;
        const mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2;
        zoomAt(state.pinch.zoom * (d / state.pinch.d), mx, my);
        state.view.x += mx - state.pinch.mx; state.view.y += my - state.pinch.my;
        state.pinch.mx = mx; state.pinch.my = my;
        applyView();
        e.stopPropagation();
        return;
      }
    }
    const p = state.pan;
    if (p && p.id === e.pointerId) {
      state.view.x = p.tx + (e.clientX - p.x);
      state.view.y = p.ty + (e.clientY - p.y);
      applyView();
      e.stopPropagation();
    }
  }, true);
  const endPan = (e) => {
    state.touches.delete(e.pointerId);
    if (state.touches.size < 2) state.pinch = null;
    if (state.pan && state.pan.id === e.pointerId) {
      state.pan = null;
      el.stage.classList.remove('panning');
      e.stopPropagation();
    }
  };
  el.stage.addEventListener('pointerup', endPan, true);
  el.stage.addEventListener('pointercancel', endPan, true);

  function fitCanvas() {
    if (!state.width) return;
    const box = el.stage.getBoundingClientRect();
    const availW = Math.max(50, box.width - 16);
    const availH = Math.max(160, Math.min(window.innerHeight * 0.68, 900));
    const scale = Math.min(availW / state.width, availH / state.height, 8);
    const dw = Math.max(1, Math.round(state.width * scale)), dh = Math.max(1, Math.round(state.height * scale));
    el.imageCanvas.style.width = dw + 'px';
    el.imageCanvas.style.height = dh + 'px';
    el.wrap.classList.toggle('pixelated', scale >= 3);
  }
  if ('ResizeObserver' in window) new ResizeObserver(() => fitCanvas()).observe(el.stage);
  window.addEventListener('resize', fitCanvas);

  el.openImage.addEventListener('change', () => { openImageFile(el.openImage.files[0]); el.openImage.value = ''; });
  ['dragenter', 'dragover'].forEach((t) => el.stage.addEventListener(t, (e) => { e.preventDefault(); el.stage.classList.add('dragging'); }));
  ['dragleave', 'drop'].forEach((t) => el.stage.addEventListener(t, () => el.stage.classList.remove('dragging')));
  el.stage.addEventListener('drop', (e) => {
    e.preventDefault();
    const f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
    if (f) openImageFile(f);
  });
  window.addEventListener('paste', (e) => {
    const items = e.clipboardData ? [...e.clipboardData.items] : [];
    const it = items.find((i) => i.type.startsWith('image/'));
    if (it) openImageFile(it.getAsFile());
  });

  // ---------- mask painting ----------
  function setTool(tool) {
    state.tool = tool;
    el.toolBrush.classList.toggle('active', tool === 'brush');
    el.toolEraser.classList.toggle('active', tool === 'eraser');
    el.toolBrush.setAttribute('aria-pressed', String(tool === 'brush'));
    el.toolEraser.setAttribute('aria-pressed', String(tool === 'eraser'));
    el.cursor.classList.toggle('eraser', tool === 'eraser');
  }
  el.toolBrush.addEventListener('click', () => setTool('brush'));
  el.toolEraser.addEventListener('click', () => setTool('eraser'));
  el.brushSize.addEventListener('input', () => { el.brushSizeOut.textContent = el.brushSize.value; sizeCursor(); });

  function displayScale() {
    const r = el.maskCanvas.getBoundingClientRect();
    return r.width ? state.width / r.width : 1;
  }
  function toImage(e) {
    const r = el.maskCanvas.getBoundingClientRect();
    return { x: (e.clientX - r.left) * (state.width / r.width), y: (e.clientY - r.top) * (state.height / r.height) };
  }
  function sizeCursor() {
    const d = Number(el.brushSize.value) / state.view.zoom;
    el.cursor.style.width = d + 'px';
    el.cursor.style.height = d + 'px';
  }
  function moveCursor(e) {
    const r = el.wrap.getBoundingClientRect();
    el.cursor.style.left = (e.clientX - r.left) / state.view.zoom + 'px';
    el.cursor.style.top = (e.clientY - r.top) / state.view.zoom + 'px';
  }

  const MAX_UNDO_BYTES = 160 * 1024 * 1024;
  /**
   * One history for mask edits and results used as input: a 'mask' entry holds the mask before an edit, an 'image'
   * entry the image, its name and its mask before a result replaced them. Undo (Ctrl+Z) steps back over both.
   */
  function snapshot(kind) {
    const mask = maskCtx.getImageData(0, 0, state.width, state.height);
    return kind === 'image' ? { kind, mask, image: imageCtx.getImageData(0, 0, state.width, state.height), name: state.imageName } : { kind, mask };
  }
  function pushHistory(entry) {
    if (!state.width) return;
    state.undo.push(entry);
    const per = state.width * state.height * 4;
    const cost = (x) => (x.kind === 'image' ? 2 : 1);
    const budget = Math.max(3, Math.min(40, Math.floor(MAX_UNDO_BYTES / per)));
    while (state.undo.length > 3 && state.undo.reduce((a, x) => a + cost(x), 0) > budget) state.undo.shift();
    state.redo = [];
    el.undo.disabled = false;
    el.redo.disabled = true;
  }
  function pushUndo() { pushHistory(snapshot('mask')); }
  function restore(entry) {
    if (entry.kind === 'image') {
      if (entry.image.width !== state.width || entry.image.height !== state.height) {
        state.width = entry.image.width; state.height = entry.image.height;
        for (const c of [el.imageCanvas, el.maskCanvas]) { c.width = state.width; c.height = state.height; }
        fitCanvas();
      }
      imageCtx.putImageData(entry.image, 0, 0);
      state.imageName = entry.name;
      setCanvasResult(null);
    }
    maskCtx.putImageData(entry.mask, 0, 0);
  }
  function swapHistory(from, to) {
    if (!from.length) return;
    const entry = from[from.length - 1];
    to.push(snapshot(entry.kind));
    restore(from.pop());
    updateMaskInfo();
  }

  function strokeTo(p) {
    const d = state.drawing;
    maskCtx.save();
    maskCtx.globalCompositeOperation = state.tool === 'eraser' ? 'destination-out' : 'source-over';
    maskCtx.strokeStyle = `rgb(${HOLE_RGB.join(',')})`;
    maskCtx.fillStyle = maskCtx.strokeStyle;
    maskCtx.lineCap = 'round';
    maskCtx.lineJoin = 'round';
    maskCtx.lineWidth = d.width;
    if (d.last.x === p.x && d.last.y === p.y) {
      maskCtx.beginPath();
      maskCtx.arc(p.x, p.y, d.width / 2, 0, Math.PI * 2);
      maskCtx.fill();
    } else {
      maskCtx.beginPath();
      maskCtx.moveTo(d.last.x, d.last.y);
      maskCtx.lineTo(p.x, p.y);
      maskCtx.stroke();
    }
    maskCtx.restore();
    d.last = p;
  }

  el.maskCanvas.addEventListener('pointerdown', (e) => {
    if (!state.width || (e.pointerType === 'mouse' && e.button !== 0)) return;
    e.preventDefault();
    if (state.canvasResult) setCanvasResult(null);
    capture(el.maskCanvas, e.pointerId);
    pushUndo();
    const p = toImage(e);
    state.drawing = { id: e.pointerId, last: p, width: Math.max(1, Number(el.brushSize.value) * displayScale()) };
    strokeTo(p);
  });
  el.maskCanvas.addEventListener('pointermove', (e) => {
    el.cursor.hidden = e.pointerType === 'touch';
    moveCursor(e);
    if (state.drawing && state.drawing.id === e.pointerId) {
      const evs = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
      for (const ce of (evs.length ? evs : [e])) strokeTo(toImage(ce));
    }
  });
  const endStroke = (e) => {
    if (state.drawing && state.drawing.id === e.pointerId) {
      state.drawing = null;
      updateMaskInfo();
      if (e.type === 'pointerup') autoRun();
    }
  };
  // run-on-release mode: each finished stroke runs the pipeline; a stroke during a run runs once more after it
  const RUN_MODE_KEY = 'diff2s.studio.runMode';
  try { if (localStorage.getItem(RUN_MODE_KEY) === 'release') el.runMode.value = 'release'; } catch (_) { /* no storage */ }
  el.runMode.addEventListener('change', () => { try { localStorage.setItem(RUN_MODE_KEY, el.runMode.value); } catch (_) { /* no storage */ } });
  function autoRun() {
    if (el.runMode.value !== 'release' || !state.holePixels || !state.info) return;
    if (state.job && !state.job.terminal) { state.rerun = true; return; }
    run();
  }
  el.maskCanvas.addEventListener('pointerup', endStroke);
  el.maskCanvas.addEventListener('pointercancel', endStroke);
  el.maskCanvas.addEventListener('pointerenter', (e) => { sizeCursor(); el.cursor.hidden = e.pointerType === 'touch'; moveCursor(e); });
  el.maskCanvas.addEventListener('pointerleave', () => { el.cursor.hidden = true; });

  el.undo.addEventListener('click', () => swapHistory(state.undo, state.redo));
  el.redo.addEventListener('click', () => swapHistory(state.redo, state.undo));
  el.clear.addEventListener('click', () => {
    if (!state.width) return;
    pushUndo();
    maskCtx.clearRect(0, 0, state.width, state.height);
    updateMaskInfo();
  });
  el.invert.addEventListener('click', () => {
    if (!state.width) return;
    pushUndo();
    const d = maskCtx.getImageData(0, 0, state.width, state.height);
    const px = d.data;
    for (let i = 0; i < px.length; i += 4) {
      const hole = px[i + 3] >= 128;
      px[i] = HOLE_RGB[0]; px[i + 1] = HOLE_RGB[1]; px[i + 2] = HOLE_RGB[2];
      px[i + 3] = hole ? 0 : 255;
    }
    maskCtx.putImageData(d, 0, 0);
    updateMaskInfo();
  });
  el.openMask.addEventListener('change', async () => {
    const f = el.openMask.files[0];
    el.openMask.value = '';
    if (!f) return;
    clearError();
    if (!state.width) { showError('Open an image before loading its mask.'); return; }
    const url = URL.createObjectURL(f);
    try {
      const img = await loadImageFromUrl(url);
      pushUndo();
      applyMaskImage(img, el.maskKnownWhite.checked);
    } catch (err) {
      showError(`Could not open the mask ${f.name}: ${err.message}`);
    } finally { URL.revokeObjectURL(url); }
  });

  /** Draw a mask image (white = hole, or white = known) into the mask layer, scaled nearest-neighbour to the image. */
  function applyMaskImage(img, knownWhite) {
    const c = document.createElement('canvas');
    c.width = state.width; c.height = state.height;
    const ctx = c.getContext('2d', { willReadFrequently: true });
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(img, 0, 0, state.width, state.height);
    const src = ctx.getImageData(0, 0, state.width, state.height).data;
    const out = maskCtx.createImageData(state.width, state.height);
    const px = out.data;
    for (let i = 0; i < px.length; i += 4) {
      const lum = 0.299 * src[i] + 0.587 * src[i + 1] + 0.114 * src[i + 2];
      const white = src[i + 3] >= 128 && lum >= 128;
      const hole = white !== knownWhite;
      px[i] = HOLE_RGB[0]; px[i + 1] = HOLE_RGB[1]; px[i + 2] = HOLE_RGB[2];
      px[i + 3] = hole ? 255 : 0;
    }
    maskCtx.putImageData(out, 0, 0);
    updateMaskInfo();
  }

  function holeCount() {
    if (!state.width) return 0;
    const px = maskCtx.getImageData(0, 0, state.width, state.height).data;
    let n = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i] >= 128) n++;
    return n;
  }

  function updateMaskInfo() {
    const n = holeCount();
    state.holePixels = n;
    if (state.width) {
      const pct = (100 * n) / (state.width * state.height);
      el.imageInfo.textContent = `${state.imageName} · ${state.width}×${state.height} · hole ${pct < 0.1 && n ? '<0.1' : pct.toFixed(1)} %`;
      el.imageInfo.dataset.hole = String(n);
    }
    el.undo.disabled = !state.undo.length;
    el.redo.disabled = !state.redo.length;
    updateButtons();
  }

  /** Keys typed into a text or number field (or a menu) are its own; a check box, slider or button takes no letters. */
  const TEXT_INPUTS = new Set(['text', 'number', 'search', 'email', 'url', 'password', 'tel', '']);
  const typing = (t) => !!(t && ((t.tagName === 'INPUT' && TEXT_INPUTS.has(t.type)) || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable));
  /** Space presses a focused button or check box; elsewhere it is the pan key. */
  const control = (t) => !!(t && (t.tagName === 'INPUT' || t.tagName === 'BUTTON' || t.tagName === 'A' || t.tagName === 'SUMMARY'));
  window.addEventListener('keyup', (e) => {
    if (e.key === 'Tab' && state.holdingInput) holdInput(false);
    if (e.key === ' ' || e.code === 'Space') {
      state.spaceDown = false;
      el.stage.classList.remove('can-pan');
    }
  });
  window.addEventListener('blur', () => { state.spaceDown = false; el.stage.classList.remove('can-pan'); if (state.holdingInput) holdInput(false); });
  function toggleHelp(open) {
    if (open === undefined) open = !el.help.open;
    if (open && !el.help.open) el.help.showModal();
    else if (!open && el.help.open) el.help.close();
  }
  el.helpOpen.addEventListener('click', () => toggleHelp(true));
  el.helpClose.addEventListener('click', () => toggleHelp(false));
  el.help.addEventListener('click', (e) => { if (e.target === el.help) toggleHelp(false); }); // a click on the backdrop

  window.addEventListener('keydown', (e) => {
    const t = e.target;
    if (el.help.open) { // the dialog takes the keys: Esc (native) or H closes it
      if (e.key.toLowerCase() === 'h' && !e.ctrlKey && !e.metaKey && !e.altKey) { e.preventDefault(); toggleHelp(false); }
      return;
    }
    if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') { e.preventDefault(); if (!el.run.disabled) run(); return; }
    if (typing(t)) return;
    const k = e.key.toLowerCase();
    if (k === 'h' && !e.ctrlKey && !e.metaKey && !e.altKey) { e.preventDefault(); toggleHelp(true); return; }
    if ((e.key === ' ' || e.code === 'Space') && !control(t)) {
      e.preventDefault(); // no page scroll: Space+drag pans
      state.spaceDown = true;
      el.stage.classList.add('can-pan');
      return;
    }
    if (e.key === 'Tab' && state.canvasResult && !e.ctrlKey && !e.altKey && !e.metaKey) {
      e.preventDefault(); // hold Tab: the input instead of the result
      if (!e.repeat) holdInput(true);
      return;
    }
    if (e.key === 'Escape') { resetView(); return; }
    if (!e.ctrlKey && !e.metaKey && (k === '+' || k === '=')) { zoomBy(1.25); return; }
    if (!e.ctrlKey && !e.metaKey && k === '-') { zoomBy(1 / 1.25); return; }
    if ((e.ctrlKey || e.metaKey) && k === 'z') { e.preventDefault(); e.shiftKey ? el.redo.click() : el.undo.click(); }
    else if ((e.ctrlKey || e.metaKey) && k === 'y') { e.preventDefault(); el.redo.click(); }
    else if (k === 'b') setTool('brush');
    else if (k === 'e') setTool('eraser');
    else if (k === '[' || k === ']') {
      el.brushSize.value = String(Number(el.brushSize.value) + (k === ']' ? 4 : -4));
      el.brushSize.dispatchEvent(new Event('input'));
    }
  });

  // ---------- pipeline form ----------
  function setupForm(info) {
    el.guide.textContent = '';
    for (const g of info.guides) {
      const o = document.createElement('option');
      o.value = g.name; o.textContent = g.name;
      el.guide.append(o);
      if (g.options) state.guideOptions[g.name] = { ...g.options };
    }
    el.sampler.textContent = '';
    for (const s of info.samplers) {
      const o = document.createElement('option');
      o.value = s; o.textContent = s;
      el.sampler.append(o);
    }
    const maxTk = Math.max(1, info.maxTk || 1);
    el.tk.max = String(maxTk); el.tkRange.max = String(maxTk);
    if (!info.refinerAvailable) {
      el.refinerOn.checked = false;
      el.refinerOn.disabled = true;
      el.refinerMissing.hidden = false;
    }
    if (info.models && info.models.length) {
      el.model.textContent = '';
      for (const m of info.models) {
        const o = document.createElement('option');
        o.value = m; o.textContent = m;
        el.model.append(o);
      }
      el.modelRow.hidden = false;
    }
    if (info.hdStrategies && info.hdStrategies.length) {
      el.hdStrategy.textContent = '';
      for (const h of info.hdStrategies) {
        const o = document.createElement('option');
        o.value = h; o.textContent = h;
        el.hdStrategy.append(o);
      }
      el.hdRow.hidden = false;
      el.hdDesc.hidden = false;
      describeHd();
    }
    applyPipeline(info.defaultPipeline);
  }
  const HD_TEXT = {
    auto: 'crop around each hole when the image is over 512 px, else the whole image',
    crop: 'run on a crop around each hole, pasted back',
    resize: 'run on the image scaled down, the hole scaled up and pasted back',
    original: 'run on the whole image at full size (most memory)',
  };
  function describeHd() { el.hdDesc.textContent = HD_TEXT[el.hdStrategy.value] || ''; }
  el.hdStrategy.addEventListener('change', describeHd);

  function splitType(obj) {
    const out = {};
    for (const [k, v] of Object.entries(obj || {})) if (k !== 'type') out[k] = v;
    return out;
  }

  function ensureOption(select, value) {
    if (value && ![...select.options].some((o) => o.value === value)) {
      const o = document.createElement('option');
      o.value = value; o.textContent = value;
      select.append(o);
    }
    if (value) select.value = value;
  }

  function applyPipeline(p) {
    if (!p) return;
    if (p.guide) {
      ensureOption(el.guide, p.guide.type);
      state.guideOptions[p.guide.type] = splitType(p.guide);
    }
    const r = p.refiner;
    if (r) {
      if (!el.refinerOn.disabled) el.refinerOn.checked = !!r.enabled;
      if (r.tk !== undefined) setTk(r.tk);
      if (r.sampler) {
        ensureOption(el.sampler, r.sampler.type);
        state.samplerOptions[r.sampler.type] = splitType(r.sampler);
      }
    } else if (!el.refinerOn.disabled) {
      el.refinerOn.checked = false;
    }
    if (p.hd && p.hd.strategy && !el.hdRow.hidden) { ensureOption(el.hdStrategy, p.hd.strategy); describeHd(); }
    if (Number.isFinite(p.seed)) el.seed.value = String(p.seed);
    if (Number.isFinite(p.samples)) el.samples.value = String(p.samples);
    renderGuide();
    renderSampler();
    updateRefiner();
  }

  function setTk(v) {
    const n = Math.round(Number(v));
    if (!Number.isFinite(n)) return;
    el.tk.value = String(n);
    el.tkRange.value = String(n);
  }
  el.tk.addEventListener('input', () => { el.tkRange.value = el.tk.value; });
  el.tkRange.addEventListener('input', () => { el.tk.value = el.tkRange.value; });
  el.refinerOn.addEventListener('change', updateRefiner);
  function updateRefiner() {
    const on = el.refinerOn.checked;
    for (const x of [el.tk, el.tkRange, el.sampler]) x.disabled = !on;
    el.samplerOptions.querySelectorAll('input, select').forEach((x) => { x.disabled = !on; });
  }

  /** The JSON Schema of one property, with a nullable/optional wrapper (anyOf [X, null]) unwrapped. */
  function propSchema(p) {
    if (!p || typeof p !== 'object') return {};
    const alts = p.anyOf || p.oneOf;
    if (Array.isArray(alts)) {
      const real = alts.filter((a) => a && a.type !== 'null');
      if (real.length === 1) return { ...real[0], description: p.description || real[0].description, default: p.default !== undefined ? p.default : real[0].default };
    }
    return p;
  }
  /** What a property's form field is: 'enum', 'boolean', 'number', 'integer', 'choice' (literals or a number), or 'json'. */
  function fieldKind(p, v) {
    if (Array.isArray(p.enum) && p.enum.every((x) => typeof x === 'string')) return 'enum';
    if (p.const !== undefined) return 'json';
    if (p.type === 'boolean') return 'boolean';
    if (p.type === 'integer') return 'integer';
    if (p.type === 'number') return 'number';
    if (p.type === 'string') return 'string';
    const alts = p.anyOf || p.oneOf;
    if (Array.isArray(alts) && alts.every((a) => a && (a.const !== undefined || a.type === 'number' || a.type === 'integer' || Array.isArray(a.enum)))) return 'choice';
    if (p.type === undefined && v !== undefined) return typeof v === 'boolean' ? 'boolean' : typeof v === 'number' ? 'number' : typeof v === 'string' ? 'string' : 'json';
    return 'json';
  }
  /** A limit worth showing (zod writes ±MAX_SAFE_INTEGER for int() without bounds). */
  const realLimit = (v) => typeof v === 'number' && Math.abs(v) < Number.MAX_SAFE_INTEGER;
  function limitsText(p) {
    p = { ...p };
    for (const k of ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum']) if (!realLimit(p[k])) delete p[k];
    const lo = p.minimum !== undefined ? `≥ ${p.minimum}` : p.exclusiveMinimum !== undefined ? `> ${p.exclusiveMinimum}` : '';
    const hi = p.maximum !== undefined ? `≤ ${p.maximum}` : p.exclusiveMaximum !== undefined ? `< ${p.exclusiveMaximum}` : '';
    return [lo, hi].filter(Boolean).join(', ');
  }

  /**
   * The option form of a part: one field per key of the schema's properties (and of `opts`), with the schema's kind,
   * limits, default and description. `opts` holds only the values set (from the defaults the backend sent, a config,
   * or the user); a field left at its default shows it.
   */
  function renderOptions(container, opts, onChange, schema) {
    container.textContent = '';
    const props = (schema && schema.properties) || {};
    const keys = [...new Set([...Object.keys(props), ...Object.keys(opts)])].filter((k) => k !== 'type');
    const FIRST = 5;
    let more = null;
    for (const [idx, k] of keys.entries()) {
      if (idx === FIRST && keys.length > FIRST + 1) {
        more = document.createElement('details');
        more.className = 'more-options';
        const sum = document.createElement('summary');
        sum.textContent = `More options (${keys.length - FIRST})`;
        more.append(sum);
        container.append(more);
      }
      const box = more || container;
      const p = propSchema(props[k]);
      const v = opts[k] !== undefined ? opts[k] : p.default;
      const kind = fieldKind(p, v);
      const row = document.createElement('label');
      row.className = 'row';
      const name = document.createElement('span');
      name.textContent = k;
      const limits = limitsText(p);
      name.title = [k, p.description, limits].filter(Boolean).join(' · ');
      let input;
      const set = (val) => { opts[k] = val; input.setCustomValidity(''); onChange(); };
      if (kind === 'boolean') {
        input = document.createElement('input');
        input.type = 'checkbox';
        input.checked = !!v;
        input.addEventListener('change', () => set(input.checked));
      } else if (kind === 'enum') {
        input = document.createElement('select');
        for (const e of p.enum) {
          const o = document.createElement('option');
          o.value = e; o.textContent = e;
          input.append(o);
        }
        if (v !== undefined) input.value = String(v);
        input.addEventListener('change', () => set(input.value));
      } else if (kind === 'number' || kind === 'integer') {
        input = document.createElement('input');
        input.type = 'number';
        input.step = kind === 'integer' ? '1' : 'any';
        if (realLimit(p.minimum)) input.min = String(p.minimum);
        if (realLimit(p.maximum)) input.max = String(p.maximum);
        if (v !== undefined && v !== null) input.value = String(v);
        input.addEventListener('change', () => {
          const n = Number(input.value);
          if (input.value.trim() === '' || !Number.isFinite(n)) return;
          const bad = (kind === 'integer' && !Number.isInteger(n)) || (p.minimum !== undefined && n < p.minimum) || (p.maximum !== undefined && n > p.maximum)
            || (p.exclusiveMinimum !== undefined && n <= p.exclusiveMinimum) || (p.exclusiveMaximum !== undefined && n >= p.exclusiveMaximum);
          if (bad) {
            input.setCustomValidity(`${k} must be ${kind === 'integer' ? 'an integer' : 'a number'}${limits ? ` ${limits}` : ''}`);
            showError(`${k} must be ${kind === 'integer' ? 'an integer' : 'a number'}${limits ? ` ${limits}` : ''}, got ${input.value}`);
            return;
          }
          set(n);
        });
      } else {
        input = document.createElement('input');
        input.type = 'text';
        const isObj = kind === 'json' && v !== null && typeof v === 'object';
        input.value = v === undefined ? '' : isObj ? JSON.stringify(v) : String(v);
        if (kind === 'choice') input.placeholder = (p.anyOf || p.oneOf).map((a) => (a.const !== undefined ? a.const : a.enum ? a.enum.join(' | ') : a.type)).join(' | ');
        input.addEventListener('change', () => {
          const t = input.value.trim();
          if (kind === 'choice') set(t !== '' && Number.isFinite(Number(t)) ? Number(t) : t);
          else if (kind === 'json' && (isObj || /^[[{]/.test(t))) {
            try { set(JSON.parse(t)); } catch (_) { showError(`${k}: not valid JSON`); }
          } else set(input.value);
        });
      }
      input.dataset.option = k;
      input.dataset.kind = kind;
      if (p.description) input.title = p.description;
      row.append(name, input);
      box.append(row);
      if (p.description || limits) {
        const d = document.createElement('p');
        d.className = 'opt-desc muted';
        d.dataset.for = k;
        d.textContent = [p.description, limits ? `(${limits})` : ''].filter(Boolean).join(' ');
        box.append(d);
      }
    }
    if (!keys.length) {
      const none = document.createElement('p');
      none.className = 'opt-none muted';
      none.textContent = 'No options.';
      container.append(none);
    }
    return keys.length;
  }

  function renderGuide() {
    const type = el.guide.value;
    const g = state.info && state.info.guides.find((x) => x.name === type);
    el.guideDesc.textContent = g ? g.description : '';
    const opts = state.guideOptions[type] || (state.guideOptions[type] = {});
    const n = renderOptions(el.guideOptions, opts, syncGuideJson, g && g.schema);
    el.guideJsonWrap.hidden = n === 0;
    syncGuideJson();
  }
  function syncGuideJson() { el.guideJson.value = JSON.stringify(state.guideOptions[el.guide.value] || {}, null, 1); }
  el.guide.addEventListener('change', renderGuide);
  el.guideJson.addEventListener('change', () => {
    try {
      const v = el.guideJson.value.trim() ? JSON.parse(el.guideJson.value) : {};
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('options must be a JSON object');
      delete v.type;
      state.guideOptions[el.guide.value] = v;
      renderGuide();
      clearError();
    } catch (err) { showError(`Guide options: ${err.message}`); }
  });
  function renderSampler() {
    const type = el.sampler.value;
    const opts = state.samplerOptions[type] || (state.samplerOptions[type] = {});
    const schema = state.info && state.info.samplerSchemas ? state.info.samplerSchemas[type] : undefined;
    const n = renderOptions(el.samplerOptions, opts, () => undefined, schema);
    if (!n) el.samplerOptions.textContent = '';
    updateRefiner();
  }
  el.sampler.addEventListener('change', renderSampler);
  el.seedRandom.addEventListener('click', () => { el.seed.value = String(Math.floor(Math.random() * 2147483647)); });

  function readPipeline() {
    const num = (input, what) => {
      const n = Number(input.value);
      if (input.value.trim() === '' || !Number.isFinite(n)) throw new Error(`${what} must be a number`);
      return n;
    };
    const p = {
      guide: { type: el.guide.value, ...(state.guideOptions[el.guide.value] || {}) },
      seed: num(el.seed, 'Seed'),
      samples: num(el.samples, 'Samples'),
    };
    if (!el.hdRow.hidden && el.hdStrategy.value) p.hd = { strategy: el.hdStrategy.value };
    if (el.refinerOn.checked) {
      p.refiner = { enabled: true, tk: num(el.tk, 'T_k'), sampler: { type: el.sampler.value, ...(state.samplerOptions[el.sampler.value] || {}) } };
    } else {
      p.refiner = { enabled: false };
    }
    return p;
  }

  el.openConfig.addEventListener('change', async () => {
    const f = el.openConfig.files[0];
    el.openConfig.value = '';
    if (!f) return;
    clearError();
    try {
      if (f.size > 1024 * 1024) throw new Error('the file is over 1 MiB; a pipeline config is a small text file');
      const text = await f.text();
      const res = await api('/api/pipeline', { method: 'POST', headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: text });
      const { pipeline } = await res.json();
      applyPipeline(pipeline);
      el.configInfo.textContent = `Loaded ${f.name}.`;
      el.configInfo.hidden = false;
    } catch (err) {
      el.configInfo.hidden = true;
      showError(`${f.name}: ${err.message}`);
    }
  });

  // ---------- running ----------
  function updateButtons() {
    const running = !!(state.job && !state.job.terminal);
    el.run.disabled = running || !state.width || !state.info;
    el.run.textContent = running ? 'Running…' : 'Run';
    el.cancel.hidden = !running;
  }

  function canvasBlob(canvas) {
    return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('the browser could not encode the image'))), 'image/png'));
  }

  function maskPngCanvas() {
    const c = document.createElement('canvas');
    c.width = state.width; c.height = state.height;
    const ctx = c.getContext('2d');
    const src = maskCtx.getImageData(0, 0, state.width, state.height).data;
    const out = ctx.createImageData(state.width, state.height);
    for (let i = 0; i < src.length; i += 4) {
      const v = src[i + 3] >= 128 ? 255 : 0;
      out.data[i] = v; out.data[i + 1] = v; out.data[i + 2] = v; out.data[i + 3] = 255;
    }
    ctx.putImageData(out, 0, 0);
    return c;
  }

  function inputWithHoleUrl() {
    const c = document.createElement('canvas');
    c.width = state.width; c.height = state.height;
    const ctx = c.getContext('2d');
    ctx.drawImage(el.imageCanvas, 0, 0);
    ctx.globalAlpha = 0.75;
    ctx.drawImage(el.maskCanvas, 0, 0);
    return c.toDataURL('image/png');
  }

  function setProgress(label, steps, fraction, queued) {
    const job = state.job;
    const f = Math.max(0, Math.min(1, fraction || 0));
    let eta = '';
    if (job && !job.terminal && !queued && job.id) {
      const now = performance.now();
      if (!job.startedAt) job.startedAt = now;
      const spent = (now - job.startedAt) / 1000;
      if (f >= 0.03 && f < 1 && spent >= 0.3) eta = `${Math.round(f * 100)} % · about ${fmtSeconds((spent * (1 - f)) / f)} left`;
      else if (f < 1) eta = `${Math.round(f * 100)} %`;
    }
    el.progressEta.textContent = eta;
    el.progress.hidden = false;
    el.progress.classList.toggle('queued', !!queued);
    el.progressLabel.textContent = label;
    el.progressSteps.textContent = steps || '';
    el.progressBar.style.width = `${Math.max(0, Math.min(1, fraction || 0)) * 100}%`;
  }

  function fmtSeconds(sec) {
    if (sec < 60) return `${Math.max(1, Math.round(sec))} s`;
    const m = Math.floor(sec / 60), r = Math.round(sec % 60);
    return `${m} min ${r} s`;
  }

  async function run() {
    clearError();
    if (!state.width) { showError('Open an image first.'); return; }
    if (!state.holePixels) { showError('Paint over the area to fill first (the mask is empty).'); return; }
    let pipeline;
    try { pipeline = readPipeline(); } catch (err) { showError(err.message); return; }
    const job = { id: null, es: null, terminal: false, retries: 0, pipeline, refiner: !!(pipeline.refiner && pipeline.refiner.enabled) };
    state.job = job;
    state.inputPreviewUrl = inputWithHoleUrl();
    Object.assign(job, { version: state.imageVersion, name: state.imageName, input: state.inputPreviewUrl });
    updateButtons();
    setProgress('Uploading…', '', 0);
    el.previewFig.hidden = true;
    el.results.hidden = true;
    try {
      const [image, mask] = await Promise.all([canvasBlob(el.imageCanvas), canvasBlob(maskPngCanvas())]);
      const form = new FormData();
      form.append('image', image, `${state.imageName}.png`);
      form.append('mask', mask, 'mask.png');
      form.append('pipeline', JSON.stringify(pipeline));
      if (!el.modelRow.hidden && el.model.value) form.append('model', el.model.value);
      const res = await api('/api/jobs', { method: 'POST', body: form });
      const created = await res.json();
      job.id = created.id;
      if (job.terminal) { // cancelled while uploading: cancel it on the server too
        fetch(`/api/jobs/${job.id}/cancel`, { method: 'POST' }).catch(() => undefined);
        return;
      }
      listen(job, created.events);
    } catch (err) {
      finishJob(job, 'error');
      showError(err.message);
    }
  }

  function listen(job, url) {
    const es = new EventSource(url);
    job.es = es;
    es.addEventListener('open', () => { job.retries = 0; });
    es.addEventListener('queued', (e) => {
      const d = JSON.parse(e.data);
      setProgress(`Waiting in the queue: position ${d.position}`, d.running ? 'another job is running' : '', 0, true);
    });
    es.addEventListener('progress', (e) => {
      if (job.stale) { el.progressLabel.textContent = 'Running (for the previous image)…'; return; }
      const d = JSON.parse(e.data);
      if (d.stage === 'guide') {
        setProgress(d.label === 'stage 1 ready' || (d.preview && d.fraction === 1) ? 'Stage 1 ready' : 'Stage 1: guide', '', (d.fraction || 0) * 0.15);
        if (d.preview) {
          job.stage1Shown = true;
          setCanvasResult(d.preview, '1', job.refiner ? 'Stage 1 · refining' : 'Stage 1');
        }
      } else if (d.stage === 'fit') {
        job.fitted = true;
        setProgress('Fitting a model to this image', d.label || '', 0.15 + 0.45 * (d.fraction || 0));
      } else {
        const frac = d.total ? d.step / d.total : d.fraction || 0;
        const base = job.fitted ? 0.6 : 0.15;
        setProgress('Stage 2: refiner', d.total ? `step ${d.step} / ${d.total}` : '', base + (1 - base) * frac);
      }
      if (d.preview && d.stage !== 'guide') {
        el.preview.src = d.preview;
        el.previewFig.hidden = false;
      }
    });
    es.addEventListener('done', (e) => {
      const d = JSON.parse(e.data);
      finishJob(job, 'done');
      d.version = job.version;
      if (job.stale) { // the image changed meanwhile: the result goes to the gallery only
        el.progress.hidden = true;
        addToGallery(d, job, false);
        return;
      }
      setProgress('Done', '', 1);
      showResults(d);
      addToGallery(d, job, true);
    });
    es.addEventListener('error', (e) => {
      if (e.data !== undefined) { // a server-sent "error" event
        let msg = 'The job failed.';
        try { msg = JSON.parse(e.data).message || msg; } catch (_) { /* keep */ }
        finishJob(job, 'error');
        setProgress('Failed', '', 0);
        showError(msg);
        return;
      }
      if (job.terminal) return;
      job.retries++;
      if (es.readyState === EventSource.CLOSED || job.retries > 3) {
        finishJob(job, 'error');
        setProgress('Connection lost', '', 0);
        showError('Lost the connection to the studio server; the job\'s progress cannot be followed. Is the server still running?');
      } else {
        el.progressLabel.textContent = 'Connection lost, reconnecting…';
      }
    });
    es.addEventListener('cancelled', () => {
      finishJob(job, 'cancelled');
      setProgress('Cancelled', '', 0);
    });
  }

  function finishJob(job, how) {
    if (job.terminal) return;
    job.terminal = how;
    if (job.es) job.es.close();
    updateButtons();
    if (state.rerun) {
      state.rerun = false;
      if (how === 'done') setTimeout(autoRun, 0);
    }
  }

  el.run.addEventListener('click', run);
  el.cancel.addEventListener('click', async () => {
    const job = state.job;
    if (!job || job.terminal) return;
    if (!job.id) { finishJob(job, 'cancelled'); setProgress('Cancelled', '', 0); return; }
    el.progressLabel.textContent = 'Cancelling…';
    try {
      await api(`/api/jobs/${job.id}/cancel`, { method: 'POST' });
      finishJob(job, 'cancelled');
      setProgress('Cancelled', '', 0);
    } catch (err) { showError(`Could not cancel: ${err.message}`); }
  });

  // ---------- results ----------
  function showResults(d) {
    state.result = d;
    state.sample = 0;
    el.sampleTabs.textContent = '';
    if (d.stage1.length > 1) {
      d.stage1.forEach((_, i) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'btn small';
        b.textContent = `Sample ${i + 1}`;
        b.setAttribute('role', 'tab');
        b.addEventListener('click', () => selectSample(i));
        el.sampleTabs.append(b);
      });
    }
    el.results.hidden = false;
    selectSample(0);
  }

  function selectSample(i) {
    const d = state.result;
    state.sample = i;
    [...el.sampleTabs.children].forEach((b, k) => { b.classList.toggle('active', k === i); b.setAttribute('aria-selected', String(k === i)); });
    const base = `diff2s-${state.imageName}`;
    el.stage1Img.src = d.stage1[i];
    el.download1.download = `${base}-stage1${d.stage1.length > 1 ? `-${i + 1}` : ''}.png`;
    const dl = (u, name) => (u.startsWith('blob:') ? u : `${u}?download=${encodeURIComponent(name)}`);
    el.download1.href = dl(d.stage1[i], el.download1.download);
    const has2 = !!(d.stage2 && d.stage2[i]);
    el.stage2Fig.hidden = !has2;
    if (has2) {
      el.stage2Img.src = d.stage2[i];
      el.download2.download = `${base}-stage2${d.stage2.length > 1 ? `-${i + 1}` : ''}.png`;
      el.download2.href = dl(d.stage2[i], el.download2.download);
    }
    const opt = [...el.compareBeforeSel.options].find((o) => o.value === 'stage1');
    opt.disabled = !has2;
    if (!has2) el.compareBeforeSel.value = 'input';
    if (d.version === state.imageVersion) setCanvasResult(has2 ? d.stage2[i] : d.stage1[i], has2 ? '2' : '1', `${has2 ? 'Stage 2 · refined' : 'Stage 1'}${d.stage1.length > 1 ? ` · sample ${i + 1}` : ''}`);
    const pix = d.width && d.width < 400;
    document.querySelector('.result-pair').classList.toggle('pixelated', !!pix);
    el.compare.classList.toggle('pixelated', !!pix);
    updateCompare();
  }

  function updateCompare() {
    const d = state.result;
    if (!d) return;
    const i = state.sample;
    const after = d.stage2 && d.stage2[i] ? d.stage2[i] : d.stage1[i];
    el.compareBefore.src = el.compareBeforeSel.value === 'stage1' ? d.stage1[i] : state.inputPreviewUrl || d.stage1[i];
    el.compareAfter.src = after;
    const w = d.width || 1, h = d.height || 1;
    const maxW = Math.min(el.results.clientWidth - 24, 720), maxH = window.innerHeight * 0.7;
    const s = Math.min(maxW / w, maxH / h, 8);
    el.compareBefore.style.width = Math.round(w * s) + 'px';
    el.compareBefore.style.height = Math.round(h * s) + 'px';
    el.compareSlider.style.width = Math.round(w * s) + 'px';
    setCompare(Number(el.compareSlider.value));
  }
  function setCompare(pct) {
    el.compareAfter.style.clipPath = `inset(0 0 0 ${pct}%)`;
    el.compareLine.style.left = `${pct}%`;
  }
  el.compareBeforeSel.addEventListener('change', updateCompare);
  el.compareSlider.addEventListener('input', () => setCompare(Number(el.compareSlider.value)));
  let comparing = false;
  const compareAt = (e) => {
    const r = el.compare.getBoundingClientRect();
    const pct = Math.max(0, Math.min(100, ((e.clientX - r.left) / r.width) * 100));
    el.compareSlider.value = String(Math.round(pct));
    setCompare(pct);
  };
  el.compare.addEventListener('pointerdown', (e) => { comparing = true; el.compare.setPointerCapture(e.pointerId); compareAt(e); });
  el.compare.addEventListener('pointermove', (e) => { if (comparing) compareAt(e); });
  el.compare.addEventListener('pointerup', () => { comparing = false; });
  el.compare.addEventListener('pointercancel', () => { comparing = false; });
  window.addEventListener('resize', () => { if (!el.results.hidden) updateCompare(); });

  /** Continue from a result: it becomes the image (the mask is cleared); Undo brings the previous image back. */
  async function continueFrom(url, name) {
    try {
      const img = await loadImageFromUrl(url);
      const w = img.naturalWidth, h = img.naturalHeight;
      if (w !== state.width || h !== state.height) { setImage(img, name); return; }
      pushHistory(snapshot('image'));
      imageCtx.clearRect(0, 0, w, h);
      imageCtx.drawImage(img, 0, 0, w, h);
      maskCtx.clearRect(0, 0, w, h);
      state.imageName = name;
      clearResults();
      updateMaskInfo();
      el.stage.scrollIntoView({ block: 'nearest' });
    } catch (err) { showError(`Could not load the result: ${err.message}`); }
  }
  el.useResult.addEventListener('click', () => {
    const d = state.result;
    if (!d) return;
    const url = d.stage2 && d.stage2[state.sample] ? d.stage2[state.sample] : d.stage1[state.sample];
    continueFrom(url, /-edited$/.test(state.imageName) ? state.imageName : `${state.imageName}-edited`);
  });

  // ---------- gallery: every result since the page was opened, with its config ----------
  function addToGallery(d, job, select) {
    const pipeline = job.pipeline;
    const entry = { n: ++state.galleryCount, d, pipeline, version: job.version, input: job.input, name: job.name };
    state.gallery.push(entry);
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'gallery-item';
    b.dataset.n = String(entry.n);
    const g = pipeline.guide.type, r = pipeline.refiner && pipeline.refiner.enabled;
    b.title = JSON.stringify(pipeline, null, 1);
    const img = document.createElement('img');
    img.alt = `Result ${entry.n}`;
    img.src = d.stage2 ? d.stage2[0] : d.stage1[0];
    const cap = document.createElement('span');
    cap.textContent = `#${entry.n} ${g}${r ? ` + ${pipeline.refiner.sampler ? pipeline.refiner.sampler.type : 'refiner'} T${pipeline.refiner.tk}` : ''}`;
    b.append(img, cap);
    b.addEventListener('click', () => selectGallery(entry));
    el.gallery.prepend(b);
    el.galleryWrap.hidden = false;
    if (select) markGallery(entry);
    // keep a copy in the page: the server drops old jobs' files
    keepCopies(entry);
    while (state.gallery.length > MAX_GALLERY) dropFromGallery(state.gallery.shift());
  }
  const MAX_GALLERY = 100;
  function dropFromGallery(entry) {
    for (const u of [...entry.d.stage1, ...(entry.d.stage2 || [])]) if (u.startsWith('blob:')) URL.revokeObjectURL(u);
    const b = el.gallery.querySelector(`.gallery-item[data-n="${entry.n}"]`);
    if (b) b.remove();
  }
  async function keepCopies(entry) {
    const copy = async (urls) => Promise.all(urls.map(async (u) => URL.createObjectURL(await (await fetch(u)).blob())));
    try {
      const d = { ...entry.d, stage1: await copy(entry.d.stage1), ...(entry.d.stage2 ? { stage2: await copy(entry.d.stage2) } : {}) };
      entry.d = d;
      const img = el.gallery.querySelector(`.gallery-item[data-n="${entry.n}"] img`);
      if (img) img.src = d.stage2 ? d.stage2[0] : d.stage1[0];
    } catch (_) { /* keep the server's URLs */ }
  }
  function markGallery(entry) {
    for (const b of el.gallery.children) b.classList.toggle('active', b.dataset.n === String(entry.n));
    el.galleryConfig.textContent = `#${entry.n} · ${entry.name}\n${JSON.stringify(entry.pipeline, null, 2)}`;
    el.galleryConfig.dataset.n = String(entry.n);
    el.galleryApply.disabled = false;
    state.galleryEntry = entry;
  }
  function selectGallery(entry) {
    markGallery(entry);
    state.inputPreviewUrl = entry.input;
    showResults(entry.d);
  }
  el.galleryApply.addEventListener('click', () => { if (state.galleryEntry) applyPipeline(state.galleryEntry.pipeline); });

  sizeCursor();
  init();
})();
