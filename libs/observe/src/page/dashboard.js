/*
 * The dashboard's script (docs/observability.md#the-dashboard). Live, it asks the page's own
 * origin for /api/status every second and redraws; with an embedded view (#pf-data, a finished
 * run's report) it draws once and asks nothing. Charts are uPlot; every chart element carries
 * data-points, the number of x values it draws, and the page sets data-ready once drawn.
 */
(() => {
  const COLORS = ['#4e79a7', '#e15759', '#59a14f', '#f28e2b', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
  const plots = new Map();

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  function table(head, rows) {
    return el(
      'table',
      {},
      el('tr', {}, ...head.map((h) => el('th', {}, h))),
      ...rows.map((r) => el('tr', {}, ...r.map((c) => el('td', {}, c)))),
    );
  }

  const fixed = (x, d) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));
  const pct = (x) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : `${(x * 100).toFixed(1)}%`);

  function duration(s) {
    if (s === null || s === undefined || !Number.isFinite(s)) return '-';
    const t = Math.round(s);
    const h = Math.floor(t / 3600);
    const m = Math.floor((t % 3600) / 60);
    return h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${t % 60}s` : `${t}s`;
  }

  /** Draws (or updates) the uPlot chart `name` with x values and named series. */
  function chart(name, xLabel, x, series) {
    const box = document.querySelector(`[data-chart="${name}"]`);
    if (!box) return;
    box.dataset.points = String(x.length);
    const key = series.map((s) => s.label).join('|');
    const data = [x, ...series.map((s) => s.values)];
    const old = plots.get(name);
    if (old && old.key === key) {
      old.plot.setData(data);
      return;
    }
    if (old) old.plot.destroy();
    const width = Math.max(300, box.clientWidth || 480);
    const opts = {
      width,
      height: 220,
      scales: { x: { time: false } },
      // epochs are whole numbers: no ticks between them
      axes: [xLabel === 'epoch' ? { label: xLabel, incrs: [1, 2, 5, 10, 20, 50, 100] } : { label: xLabel }, {}],
      series: [
        { label: xLabel },
        ...series.map((s, i) => ({
          label: s.label,
          stroke: COLORS[i % COLORS.length],
          width: 2,
          spanGaps: true,
          points: { show: x.length < 60 },
        })),
      ],
    };
    plots.set(name, { key, plot: new uPlot(opts, data, box) });
  }

  function summary(v) {
    const box = document.getElementById('pf-summary');
    const items = [
      ['state', v.state + (v.reason ? `: ${v.reason}` : '')],
      ['epoch', `${v.epoch}/${v.epochs}`],
      ['step', `${v.step}/${v.stepsPerEpoch}`],
      ['samples/s', fixed(v.samplesPerSec, 1)],
      ['cache hits', pct(v.cacheHitRate)],
      ['generation', v.generation],
      ['workers', v.workers.length],
      ['ETA', duration(v.etaSeconds)],
    ];
    box.replaceChildren(...items.map(([k, val]) => el('span', { 'data-field': k }, `${k} `, el('b', {}, val))));
    document.getElementById('pf-job').textContent = v.jobId;
  }

  function epochCharts(v) {
    const e = v.epochPoints;
    const x = e.map((p) => p.epoch);
    chart('epoch-loss', 'epoch', x, [
      { label: 'train loss', values: e.map((p) => p.trainLoss) },
      { label: 'val loss', values: e.map((p) => p.valLoss) },
    ]);
    chart('epoch-accuracy', 'epoch', x, [{ label: 'val accuracy', values: e.map((p) => p.valAccuracy) }]);
  }

  function stepCharts(v) {
    const s = v.stepPoints;
    const x = s.map((p) => p.globalStep);
    chart('step-loss', 'step', x, [{ label: 'train loss (epoch so far)', values: s.map((p) => p.loss) }]);
    chart('step-cache', 'step', x, [{ label: 'cache hit rate', values: s.map((p) => p.cacheHitRate) }]);
    // workers report at different moments: one x axis of every moment, gaps where a worker said nothing
    const times = [...new Set(v.workers.flatMap((w) => w.rates.map((r) => r[0])))].sort((a, b) => a - b);
    const series = v.workers.map((w) => {
      const at = new Map(w.rates);
      return { label: w.workerId, values: times.map((t) => (at.has(t) ? at.get(t) : null)) };
    });
    chart('worker-rates', 'seconds', times, series);
  }

  function split(v) {
    const box = document.getElementById('pf-split');
    const legend = el(
      'div',
      { class: 'legend' },
      el('span', { class: 'read' }),
      'cache read',
      el('span', { class: 'compute' }),
      'compute',
      el('span', { class: 'allreduce' }),
      'allreduce',
    );
    const rows = v.workers.map((w) => {
      const busy = w.readSeconds + w.computeSeconds + w.allreduceSeconds;
      const part = (cls, s) =>
        el('span', { class: cls, style: `width:${busy > 0 ? (100 * s) / busy : 0}%`, title: `${cls} ${fixed(s, 2)} s` });
      const bar = el(
        'div',
        { class: 'bar' },
        part('read', w.readSeconds),
        part('compute', w.computeSeconds),
        part('allreduce', w.allreduceSeconds),
      );
      return [
        w.rank,
        w.workerId,
        bar,
        `${fixed(w.readSeconds, 2)} / ${fixed(w.computeSeconds, 2)} / ${fixed(w.allreduceSeconds, 2)} s`,
        pct(w.cacheHitRate),
      ];
    });
    box.replaceChildren(legend, table(['rank', 'worker', 'split', 'read / compute / allreduce', 'cache hits'], rows));
  }

  function freeze(v) {
    const box = document.getElementById('pf-freeze');
    const f = v.freeze;
    if (!f) {
      box.replaceChildren(el('p', { class: 'note' }, 'A fixed boundary: nothing freezes during this run.'));
      return;
    }
    // freeze steps count from the run's first step; a resumed run's coordinator starts later
    const total = Math.max(v.epochs * v.stepsPerEpoch, 1);
    const done = total - v.totalSteps + Math.min(v.globalStep, v.totalSteps);
    const line = el(
      'div',
      { class: 'timeline', title: 'freeze steps over the run' },
      el('div', { class: 'done', style: `width:${(100 * done) / total}%` }),
    );
    for (const b of f.blocks)
      if (b.freezeStep !== null)
        line.append(
          el('div', {
            class: 'tick',
            style: `left:${(100 * b.freezeStep) / Math.max(total, 1)}%`,
            title: `${b.block} at step ${b.freezeStep}`,
          }),
        );
    const rows = f.blocks.map((b) => [
      b.block,
      b.freezeStep === null ? 'trains to the end' : b.freezeStep,
      b.freezeEpoch === null ? '-' : b.freezeEpoch,
      el('span', { class: b.frozen ? 'frozen' : '' }, b.frozen ? 'frozen' : 'training'),
    ]);
    const blocks = table(['block', 'freezes at step', 'epoch', 'now'], rows);
    blocks.setAttribute('data-freeze-blocks', String(f.blocks.length));
    const events = table(
      ['step', 'boundary from then on'],
      f.events.map((e) => [e.step, e.boundary]),
    );
    const speed = el(
      'p',
      {},
      `${f.policy}: expected speedup ${fixed(f.cachedSpeedup, 2)}x with the cache (the paper's estimate ${fixed(f.paperSpeedup, 2)}x); measured ${f.measuredSpeedup === null ? '- (after epoch 2)' : `${fixed(f.measuredSpeedup, 2)}x`}`,
    );
    box.replaceChildren(speed, line, blocks, el('p', {}, 'Boundary over time:'), events);
  }

  function membership(v) {
    const list = (ids) => (ids?.length ? ids.join(', ') : '-');
    const rows = v.membership.map((m) => [
      m.generation,
      m.at ? m.at.replace('T', ' ').replace(/\..*/, '') : '-',
      list(m.workers),
      list((m.left || []).map((l) => (l.reason ? `${l.workerId}: ${l.reason}` : l.workerId))),
      list(m.joined),
      m.reason,
    ]);
    const failures = v.failures.map((f) => el('p', { class: 'failed' }, `failure at ${f.at}: ${f.reason}`));
    const current = table(
      ['rank', 'worker', 'epoch', 'step', 'samples/s'],
      v.workers.map((w) => [w.rank, w.workerId, w.epoch, w.step, fixed(w.samplesPerSec, 1)]),
    );
    const box = document.getElementById('pf-membership');
    box.dataset.generations = String(v.membership.length);
    box.replaceChildren(table(['generation', 'since', 'workers', 'left', 'joined', 'reason'], rows), ...failures, current);
  }

  function epochs(v) {
    const rows = v.epochPoints.map((e) => [
      e.epoch,
      fixed(e.trainLoss, 4),
      fixed(e.valLoss, 4),
      pct(e.valAccuracy),
      fixed(e.seconds, 2),
      fixed(e.samplesPerSec, 1),
      pct(e.cacheHitRate),
      e.boundary,
    ]);
    document
      .getElementById('pf-epochs')
      .replaceChildren(table(['epoch', 'train loss', 'val loss', 'val acc', 'seconds', 'samples/s', 'cache hits', 'boundary'], rows));
  }

  function compare(runs) {
    if (runs.length === 0) return;
    document.body.classList.add('compare');
    const x = [...new Set(runs.flatMap((r) => r.view.epochPoints.map((e) => e.epoch)))].sort((a, b) => a - b);
    const by = (f) =>
      runs.map((r) => ({
        label: r.name,
        values: x.map((ep) => {
          const p = r.view.epochPoints.find((e) => e.epoch === ep);
          return p ? f(p) : null;
        }),
      }));
    chart(
      'compare-accuracy',
      'epoch',
      x,
      by((p) => p.valAccuracy),
    );
    chart(
      'compare-loss',
      'epoch',
      x,
      by((p) => p.valLoss),
    );
  }

  function draw(v) {
    summary(v);
    epochCharts(v);
    if (v.source === 'live') {
      stepCharts(v);
      split(v);
    }
    freeze(v);
    membership(v);
    epochs(v);
    document.getElementById('pf-footer').textContent = `${v.source === 'live' ? 'live, updated' : 'report of'} ${v.updatedAt}`;
    document.body.dataset.ready = 'true';
    document.body.dataset.state = v.state;
  }

  const embedded = document.getElementById('pf-data');
  if (embedded) {
    const data = JSON.parse(embedded.textContent);
    document.body.classList.add('static');
    draw(data.view);
    compare(data.compare);
    return;
  }
  let failures = 0;
  async function poll() {
    try {
      // the page's own query (?token=...) goes on to the API
      const r = await fetch(`api/status${location.search}`, { cache: 'no-store' });
      if (!r.ok) throw new Error(`status ${r.status}`);
      draw(await r.json());
      failures = 0;
    } catch (e) {
      failures++;
      document.getElementById('pf-footer').textContent = `no answer from the coordinator (${e.message}); retrying`;
    }
    // the coordinator's port closes after the job: stop asking after a minute of silence
    if (failures < 60) setTimeout(poll, 1000);
  }
  poll();
})();
