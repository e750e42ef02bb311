(function () {
  const data = JSON.parse(document.getElementById('report-data').textContent);
  const NS = 'http://www.w3.org/2000/svg';
  const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];
  const arms = Object.keys(data.arms);
  const colour = (arm) => colours[arms.indexOf(arm) % colours.length];
  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }
  function text(parent, x, y, s, anchor) {
    const t = el('text', {x: x, y: y, 'font-size': 11, 'text-anchor': anchor || 'start'}, parent);
    t.textContent = s;
    return t;
  }
  function frame(id, w, h) {
    const svg = el('svg', {width: w, height: h, viewBox: `0 0 ${w} ${h}`, 'data-chart': id});
    document.getElementById(id).appendChild(svg);
    return svg;
  }
  function scale(lo, hi, a, b) { const span = (hi - lo) || 1; return (v) => a + (v - lo) / span * (b - a); }
  function axisY(svg, y, lo, hi, x0, x1, fmt) {
    for (let i = 0; i <= 4; i++) {
      const v = lo + (hi - lo) * i / 4, py = y(v);
      el('line', {x1: x0, x2: x1, y1: py, y2: py, stroke: '#e3e3e3'}, svg);
      text(svg, x0 - 4, py + 4, fmt(v), 'end');
    }
  }
  const pct = (v) => (v * 100).toFixed(2) + '%';
  let drawn = 0;

  // CTR over time: cumulative CTR per arm with its 95% band.
  (function () {
    const pts = data.timeline, W = 720, H = 300, L = 70, R = 20, T = 20, B = 40;
    const svg = frame('chart-ctr', W, H);
    if (!pts.length) { text(svg, W / 2, H / 2, 'no events yet', 'middle'); return; }
    const at = (p, a) => p.ctr[a];
    const vals = [];
    for (const p of pts) for (const a of arms) if (at(p, a) && at(p, a).value !== null) {
      vals.push(at(p, a).value); if (at(p, a).ci[0] !== null) vals.push(at(p, a).ci[0], at(p, a).ci[1]); }
    const lo = Math.max(0, Math.min(...vals)), hi = Math.max(...vals);
    const x = scale(pts[0].t_ms, pts[pts.length - 1].t_ms, L, W - R), y = scale(lo, hi, H - B, T);
    axisY(svg, y, lo, hi, L, W - R, pct);
    const t0 = pts[0].t_ms;
    text(svg, L, H - 12, '0 s'); text(svg, W - R, H - 12, ((pts[pts.length - 1].t_ms - t0) / 1000).toFixed(0) + ' s', 'end');
    for (const a of arms) {
      const ok = pts.filter((p) => at(p, a) && at(p, a).value !== null && at(p, a).ci[0] !== null);
      if (!ok.length) continue;
      const upper = ok.map((p) => `${x(p.t_ms)},${y(at(p, a).ci[1])}`);
      const lower = ok.slice().reverse().map((p) => `${x(p.t_ms)},${y(at(p, a).ci[0])}`);
      el('polygon', {points: upper.concat(lower).join(' '), fill: colour(a), 'fill-opacity': 0.18, stroke: 'none', class: 'band'}, svg);
      el('polyline', {points: ok.map((p) => `${x(p.t_ms)},${y(at(p, a).value)}`).join(' '), fill: 'none', stroke: colour(a), 'stroke-width': 2, class: 'series'}, svg);
    }
    drawn++;
  })();

  // CTR lift over time: each arm's absolute CTR lift against control, with its always-valid band (light:
  // it holds at every point, so it may be watched) and its fixed-horizon band (dark: valid at one planned look).
  (function () {
    const pts = data.timeline, W = 720, H = 300, L = 70, R = 20, T = 20, B = 40;
    const svg = frame('chart-lift-time', W, H);
    const others = arms.filter((a) => a !== data.control);
    const ok = (p, a) => p.ctr_lift[a] && p.ctr_lift[a].absolute !== null && p.ctr_lift[a].sequential_ci[0] !== null && p.ctr_lift[a].ci[0] !== null;
    if (!pts.length || !others.some((a) => pts.some((p) => ok(p, a)))) { text(svg, W / 2, H / 2, 'no lift to show yet', 'middle'); return; }
    const vals = [0];
    for (const p of pts) for (const a of others) if (ok(p, a)) vals.push(...p.ctr_lift[a].sequential_ci, ...p.ctr_lift[a].ci);
    const lo = Math.min(...vals), hi = Math.max(...vals);
    const x = scale(pts[0].t_ms, pts[pts.length - 1].t_ms, L, W - R), y = scale(lo, hi, H - B, T);
    axisY(svg, y, lo, hi, L, W - R, pct);
    el('line', {x1: L, x2: W - R, y1: y(0), y2: y(0), stroke: '#888', 'stroke-dasharray': '4 3'}, svg);
    for (const a of others) {
      const seen = pts.filter((p) => ok(p, a));
      if (!seen.length) continue;
      const band = (key, cls, opacity) => {
        const upper = seen.map((p) => `${x(p.t_ms)},${y(p.ctr_lift[a][key][1])}`);
        const lower = seen.slice().reverse().map((p) => `${x(p.t_ms)},${y(p.ctr_lift[a][key][0])}`);
        el('polygon', {points: upper.concat(lower).join(' '), fill: colour(a), 'fill-opacity': opacity, stroke: 'none', class: cls}, svg);
      };
      band('sequential_ci', 'band-always-valid', 0.15);
      band('ci', 'band-fixed', 0.3);
      el('polyline', {points: seen.map((p) => `${x(p.t_ms)},${y(p.ctr_lift[a].absolute)}`).join(' '), fill: 'none', stroke: colour(a), 'stroke-width': 2, class: 'lift-series'}, svg);
    }
    drawn++;
  })();

  // Lift with its intervals: relative lift of each arm against control, 95% (thick) and always-valid (thin).
  (function () {
    const rows = [];
    for (const [arm, metrics] of Object.entries(data.lift)) for (const [m, c] of Object.entries(metrics))
      if (c.relative !== null && c.relative_ci) rows.push({arm, m, c});
    const W = 720, rowH = 26, L = 230, R = 30, T = 20, H = T + 30 + rowH * Math.max(rows.length, 1);
    const svg = frame('chart-lift', W, H);
    if (!rows.length) { text(svg, W / 2, H / 2, 'no lift to show yet', 'middle'); return; }
    const vals = [0];
    for (const r of rows) { vals.push(r.c.relative_ci[0], r.c.relative_ci[1]); }
    const finite = vals.filter((v) => v !== null && isFinite(v));
    const lo = Math.min(...finite), hi = Math.max(...finite), x = scale(lo, hi, L, W - R);
    el('line', {x1: x(0), x2: x(0), y1: T, y2: H - 20, stroke: '#888', 'stroke-dasharray': '4 3'}, svg);
    text(svg, L, H - 6, pct(lo)); text(svg, W - R, H - 6, pct(hi), 'end');
    rows.forEach((r, i) => {
      const cy = T + 10 + i * rowH;
      text(svg, L - 8, cy + 4, `${r.arm}: ${r.m}`, 'end');
      const [a, b] = r.c.relative_ci;
      if (a !== null && b !== null) el('line', {x1: x(Math.max(a, lo)), x2: x(Math.min(b, hi)), y1: cy, y2: cy, stroke: colour(r.arm), 'stroke-width': 4, class: 'interval'}, svg);
      el('circle', {cx: x(r.c.relative), cy: cy, r: 5, fill: colour(r.arm), class: 'point'}, svg);
    });
    drawn++;
  })();

  // Assignment split: users per arm against the phase's weights.
  (function () {
    const W = 720, H = 60 + 50 * arms.length, L = 120, R = 30, T = 20;
    const svg = frame('chart-split', W, H);
    const total = arms.reduce((s, a) => s + data.arms[a].users, 0) || 1;
    const x = scale(0, 1, L, W - R);
    arms.forEach((a, i) => {
      const cy = T + i * 50, share = data.arms[a].users / total, want = data.arms[a].weight;
      text(svg, L - 8, cy + 16, a, 'end');
      el('rect', {x: L, y: cy, width: Math.max(1, x(share) - L), height: 22, fill: colour(a), class: 'bar'}, svg);
      el('line', {x1: x(want), x2: x(want), y1: cy - 4, y2: cy + 26, stroke: '#000', 'stroke-width': 2}, svg);
      text(svg, x(share) + 6, cy + 16, `${pct(share)} of users (phase weight ${pct(want)})`);
    });
    drawn++;
  })();

  document.body.setAttribute('data-charts-drawn', String(drawn));
})();
