// The loss curve as a small standalone SVG: training loss (smoothed) and validation loss
// against the step, with axes and a legend — a picture a person can open in any browser. A
// classifier's validation accuracy, when the history has it, is drawn on a right-hand axis.
import type { HistoryRow } from './checkpoint.ts';

export function lossPlotSvg(history: HistoryRow[], title: string, reference?: { label: string; value: number }, per = 'token'): string {
  const W = 720;
  const H = 420;
  const acc = history.filter((h) => h[3] !== undefined && h[3] !== null).map((h) => [h[0], h[3]!] as const);
  const m = { l: 60, r: acc.length ? 60 : 20, t: 40, b: 50 };
  const steps = history.map((h) => h[0]);
  const train = smooth(history.map((h) => h[1]), 0.9);
  const val = history.filter((h) => h[2] !== null).map((h) => [h[0], h[2]!] as const);
  const values = [...train, ...val.map((v) => v[1]), ...(reference ? [reference.value] : [])].filter(Number.isFinite);
  const [x0, x1] = [Math.min(...steps, 0), Math.max(...steps, 1)];
  const [y0, y1] = [Math.min(...values) * 0.95, Math.max(...values) * 1.02];
  const X = (x: number) => m.l + ((x - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const Y = (y: number) => H - m.b - ((y - y0) / (y1 - y0 || 1)) * (H - m.t - m.b);
  const path = (pts: (readonly [number, number])[], y = Y) => pts.map(([x, v], k) => `${k ? 'L' : 'M'}${X(x).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  // Accuracy: its own axis on the right, from the lowest value measured (rounded down to
  // ten points) to 100%.
  const a0 = acc.length ? Math.min(0.9, Math.floor(Math.min(...acc.map((a) => a[1])) * 10) / 10) : 0;
  const A = (a: number) => H - m.b - ((a - a0) / (1 - a0)) * (H - m.t - m.b);
  // Round tick values: steps of 1, 2 or 5 × 10^k.
  const ticks = (lo: number, hi: number, n: number) => {
    const raw = (hi - lo) / n;
    const mag = 10 ** Math.floor(Math.log10(raw || 1));
    const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? raw;
    const out: number[] = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(v);
    return out;
  };
  const esc = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
    ...ticks(y0, y1, 5).map((y) => `<line x1="${m.l}" x2="${W - m.r}" y1="${Y(y).toFixed(1)}" y2="${Y(y).toFixed(1)}" stroke="#eee"/><text x="${m.l - 6}" y="${(Y(y) + 4).toFixed(1)}" text-anchor="end">${Number(y.toFixed(2))}</text>`),
    ...ticks(x0, x1, 5).map((x) => `<text x="${X(x).toFixed(1)}" y="${H - m.b + 18}" text-anchor="middle">${Math.round(x)}</text>`),
    `<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="black"/><line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="black"/>`,
    `<text x="${W / 2}" y="${H - 12}" text-anchor="middle">step</text>`,
    `<text x="16" y="${H / 2}" text-anchor="middle" transform="rotate(-90 16 ${H / 2})">loss (nats per ${esc(per)})</text>`,
    ...(acc.length
      ? [
          `<line x1="${W - m.r}" x2="${W - m.r}" y1="${m.t}" y2="${H - m.b}" stroke="#2ca02c"/>`,
          ...ticks(a0, 1, 5).map((a) => `<text x="${W - m.r + 6}" y="${(A(a) + 4).toFixed(1)}" fill="#2ca02c">${Number((100 * a).toFixed(1))}%</text>`),
          `<text x="${W - 14}" y="${H / 2}" text-anchor="middle" fill="#2ca02c" transform="rotate(90 ${W - 14} ${H / 2})">validation accuracy</text>`,
          `<path d="${path(acc, A)}" fill="none" stroke="#2ca02c" stroke-width="2"/>${acc.map(([x, a]) => `<circle cx="${X(x).toFixed(1)}" cy="${A(a).toFixed(1)}" r="3" fill="#2ca02c"/>`).join('')}`,
        ]
      : []),
    train.length ? `<path d="${path(steps.map((s, k) => [s, train[k]] as const))}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>` : '',
    val.length ? `<path d="${path(val)}" fill="none" stroke="#d62728" stroke-width="2"/>${val.map(([x, y]) => `<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="3" fill="#d62728"/>`).join('')}` : '',
    reference ? `<line x1="${m.l}" x2="${W - m.r}" y1="${Y(reference.value).toFixed(1)}" y2="${Y(reference.value).toFixed(1)}" stroke="#777" stroke-dasharray="6 4"/>` : '',
    // With accuracy near the top of the plot, the legend goes to the middle, clear of both curves.
    `<g transform="translate(${W - m.r - 230},${acc.length ? Math.round((H - m.b + m.t) / 2 - 38) : m.t + 8})"><rect width="225" height="${44 + (reference ? 16 : 0) + (acc.length ? 16 : 0)}" fill="white" stroke="#ccc"/>`,
    `<line x1="8" x2="30" y1="14" y2="14" stroke="#1f77b4" stroke-width="2"/><text x="36" y="18">training loss (smoothed)</text>`,
    `<line x1="8" x2="30" y1="32" y2="32" stroke="#d62728" stroke-width="2"/><text x="36" y="36">validation loss</text>`,
    reference ? `<line x1="8" x2="30" y1="50" y2="50" stroke="#777" stroke-dasharray="6 4"/><text x="36" y="54">${esc(reference.label)}</text>` : '',
    acc.length ? `<line x1="8" x2="30" y1="${reference ? 66 : 50}" y2="${reference ? 66 : 50}" stroke="#2ca02c" stroke-width="2"/><text x="36" y="${reference ? 70 : 54}">validation accuracy (right axis)</text>` : '',
    `</g></svg>`,
  ];
  return out.filter(Boolean).join('\n') + '\n';
}

function smooth(xs: number[], beta: number): number[] {
  let avg = 0;
  return xs.map((x, k) => {
    avg = beta * avg + (1 - beta) * x;
    return avg / (1 - beta ** (k + 1));
  });
}

/** A classifier's confusion matrix as a heat map (rows: true class, columns: prediction), and
 *  below it the first misclassified images, each captioned `true → predicted`; rows and
 *  captions name the classes where `names` does. */
export function confusionSvg(confusion: number[][], title: string, pictures: { label: number; predicted: number; data: Uint8Array; width: number; height: number }[] = [], names?: string[]): string {
  const n = confusion.length;
  const cell = Math.max(24, Math.min(48, Math.floor(480 / n)));
  const rowLabel = (k: number) => (names?.[k] !== undefined ? `${names[k]} ${k}` : String(k));
  // Room for the longest row label (about 7 px a character at 12 px).
  const m = { l: Math.max(70, 40 + 7 * Math.max(...confusion.map((_, k) => rowLabel(k).length))), t: 60 };
  const grid = n * cell;
  const scale = pictures.length ? Math.max(2, Math.floor(56 / pictures[0].height)) : 1;
  const picW = pictures.length ? pictures[0].width * scale : 0;
  // Named captions (`Ankle boot → Sneaker`) need more room than the picture.
  const pitch = names ? Math.max(picW + 16, 124) : picW + 16;
  const perRow = pictures.length ? Math.max(1, Math.floor((m.l + grid) / pitch)) : 1;
  const picRows = Math.ceil(pictures.length / perRow);
  const W = Math.max(m.l + grid + 30, 360);
  const H = m.t + grid + 50 + (pictures.length ? 30 + picRows * (picW + 30) : 0);
  const rowTotals = confusion.map((r) => r.reduce((a, b) => a + b, 0) || 1);
  const esc = (t: string) => t.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
    `<text x="${m.l + grid / 2}" y="${m.t - 22}" text-anchor="middle">predicted</text>`,
    `<text x="18" y="${m.t + grid / 2}" text-anchor="middle" transform="rotate(-90 18 ${m.t + grid / 2})">true class</text>`,
  ];
  for (let i = 0; i < n; i++) {
    out.push(`<text x="${m.l + i * cell + cell / 2}" y="${m.t - 6}" text-anchor="middle">${i}</text>`, `<text x="${m.l - 8}" y="${m.t + i * cell + cell / 2 + 4}" text-anchor="end">${esc(rowLabel(i))}</text>`);
    for (let j = 0; j < n; j++) {
      // Shade by the share of the true class's examples: the diagonal is recall.
      const share = confusion[i][j] / rowTotals[i];
      const shade = Math.round(255 * (1 - Math.min(1, share * (i === j ? 1 : 5))));
      const fill = i === j ? `rgb(${shade},${Math.round(128 + shade / 2)},${shade})` : `rgb(255,${shade},${shade})`;
      out.push(`<rect x="${m.l + j * cell}" y="${m.t + i * cell}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ddd"/>`);
      if (confusion[i][j]) out.push(`<text x="${m.l + j * cell + cell / 2}" y="${m.t + i * cell + cell / 2 + 4}" text-anchor="middle" font-size="${cell < 32 ? 9 : 11}" fill="${share > 0.5 ? 'white' : 'black'}">${confusion[i][j]}</text>`);
    }
  }
  if (pictures.length) {
    const top = m.t + grid + 40;
    out.push(`<text x="10" y="${top}">first misclassified (true → predicted):</text>`);
    pictures.forEach((p, k) => {
      const x0 = 10 + (k % perRow) * pitch + (pitch - 16 - picW) / 2;
      const y0 = top + 12 + Math.floor(k / perRow) * (picW + 30);
      out.push(`<g transform="translate(${x0},${y0})"><rect width="${picW}" height="${p.height * scale}" fill="black"/>`);
      // Rows of equal grey (16 levels) as one rectangle: the background costs nothing.
      for (let y = 0; y < p.height; y++) {
        for (let x = 0; x < p.width; ) {
          const level = p.data[y * p.width + x] >> 4;
          let end = x + 1;
          while (end < p.width && p.data[y * p.width + end] >> 4 === level) end++;
          if (level) out.push(`<rect x="${x * scale}" y="${y * scale}" width="${(end - x) * scale}" height="${scale}" fill="rgb(${level * 17},${level * 17},${level * 17})"/>`);
          x = end;
        }
      }
      out.push(`<text x="${picW / 2}" y="${p.height * scale + 14}" text-anchor="middle" font-size="${names ? 10 : 12}">${esc(names ? `${names[p.label] ?? p.label} → ${names[p.predicted] ?? p.predicted}` : `${p.label} → ${p.predicted}`)}</text></g>`);
    });
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Few-shot accuracy against the number of examples in the prompt (GPT-3's figure): a line
 *  per task and a thick one for their mean; `points` are [task, shots, accuracy 0–1]. */
export function fewShotSvg(points: [string, number, number][], title: string): string {
  const W = 720;
  const H = 420;
  const m = { l: 60, r: 190, t: 40, b: 50 };
  const shots = [...new Set(points.map((p) => p[1]))].sort((a, b) => a - b);
  const tasks = [...new Set(points.map((p) => p[0]))];
  // Shots are evenly spaced categories (0, 1, k), as the paper draws them.
  const X = (k: number) => m.l + (shots.length > 1 ? (shots.indexOf(k) / (shots.length - 1)) * (W - m.l - m.r) : (W - m.l - m.r) / 2);
  const Y = (a: number) => H - m.b - a * (H - m.t - m.b);
  const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  const esc = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const line = (pts: [number, number][], color: string, width: number) =>
    `<path d="${pts.map(([k, a], n) => `${n ? 'L' : 'M'}${X(k).toFixed(1)},${Y(a).toFixed(1)}`).join(' ')}" fill="none" stroke="${color}" stroke-width="${width}"/>` + pts.map(([k, a]) => `<circle cx="${X(k).toFixed(1)}" cy="${Y(a).toFixed(1)}" r="${width + 1}" fill="${color}"/>`).join('');
  const mean = shots.map((k) => {
    const of = points.filter((p) => p[1] === k);
    return [k, of.reduce((s, p) => s + p[2], 0) / of.length] as [number, number];
  });
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${(W - m.r + m.l) / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
    ...[0, 0.2, 0.4, 0.6, 0.8, 1].map((a) => `<line x1="${m.l}" x2="${W - m.r}" y1="${Y(a).toFixed(1)}" y2="${Y(a).toFixed(1)}" stroke="#eee"/><text x="${m.l - 6}" y="${(Y(a) + 4).toFixed(1)}" text-anchor="end">${Math.round(a * 100)}%</text>`),
    ...shots.map((k) => `<text x="${X(k).toFixed(1)}" y="${H - m.b + 18}" text-anchor="middle">${k}</text>`),
    `<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="black"/><line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="black"/>`,
    `<text x="${(W - m.r + m.l) / 2}" y="${H - 12}" text-anchor="middle">examples in the prompt (shots)</text>`,
    `<text x="16" y="${H / 2}" text-anchor="middle" transform="rotate(-90 16 ${H / 2})">exact-match accuracy</text>`,
    ...tasks.map((t, n) => line(points.filter((p) => p[0] === t).map((p) => [p[1], p[2]] as [number, number]).sort((a, b) => a[0] - b[0]), colors[n % colors.length], 1.5)),
    line(mean, 'black', 3),
    `<g transform="translate(${W - m.r + 12},${m.t})">`,
    ...tasks.map((t, n) => `<line x1="0" x2="22" y1="${8 + 18 * n}" y2="${8 + 18 * n}" stroke="${colors[n % colors.length]}" stroke-width="2"/><text x="28" y="${12 + 18 * n}">${esc(t)}</text>`),
    `<line x1="0" x2="22" y1="${8 + 18 * tasks.length}" y2="${8 + 18 * tasks.length}" stroke="black" stroke-width="3"/><text x="28" y="${12 + 18 * tasks.length}">mean</text>`,
    `</g></svg>`,
  ];
  return out.join('\n') + '\n';
}

/** A scaling sweep on log-log axes: validation loss against training compute (left) and
 *  against parameters (right), each with its fitted power law L = a·x^(−α) as a line. */
export function scaleSvg(points: { value: number; params: number; flops: number; valLoss: number }[], byCompute: { a: number; alpha: number; alphaError: number }, byParams: { a: number; alpha: number; alphaError: number }, title: string): string {
  const W = 900;
  const H = 420;
  const panel = (x0: number, xs: number[], fit: { a: number; alpha: number; alphaError: number }, label: string, sym: string): string[] => {
    const m = { l: 60, r: 20, t: 50, b: 50 };
    const w = W / 2;
    const ys = points.map((p) => p.valLoss);
    const lx = xs.map(Math.log10);
    const ly = ys.map(Math.log10);
    const pad = (lo: number, hi: number) => [lo - 0.08 * (hi - lo || 1), hi + 0.08 * (hi - lo || 1)];
    const [ax0, ax1] = pad(Math.min(...lx), Math.max(...lx));
    const [ay0, ay1] = pad(Math.min(...ly), Math.max(...ly));
    const X = (v: number) => x0 + m.l + ((Math.log10(v) - ax0) / (ax1 - ax0)) * (w - m.l - m.r);
    const Y = (v: number) => H - m.b - ((Math.log10(v) - ay0) / (ay1 - ay0)) * (H - m.t - m.b);
    const tick = (v: number) => (v >= 1e4 ? v.toExponential(1) : Number(v.toPrecision(3)).toString());
    const xt = [0, 0.25, 0.5, 0.75, 1].map((f) => 10 ** (ax0 + f * (ax1 - ax0)));
    const yt = [0, 0.25, 0.5, 0.75, 1].map((f) => 10 ** (ay0 + f * (ay1 - ay0)));
    const lo = 10 ** ax0;
    const hi = 10 ** ax1;
    return [
      ...yt.map((v) => `<line x1="${x0 + m.l}" x2="${x0 + w - m.r}" y1="${Y(v).toFixed(1)}" y2="${Y(v).toFixed(1)}" stroke="#eee"/><text x="${x0 + m.l - 6}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end">${tick(v)}</text>`),
      ...xt.map((v) => `<text x="${X(v).toFixed(1)}" y="${H - m.b + 18}" text-anchor="middle">${tick(v)}</text>`),
      `<line x1="${x0 + m.l}" x2="${x0 + w - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="black"/><line x1="${x0 + m.l}" x2="${x0 + m.l}" y1="${m.t}" y2="${H - m.b}" stroke="black"/>`,
      `<text x="${x0 + w / 2}" y="${H - 12}" text-anchor="middle">${label} (log scale)</text>`,
      `<line x1="${X(lo).toFixed(1)}" y1="${Y(fit.a * lo ** -fit.alpha).toFixed(1)}" x2="${X(hi).toFixed(1)}" y2="${Y(fit.a * hi ** -fit.alpha).toFixed(1)}" stroke="#d62728" stroke-width="1.5" stroke-dasharray="6 4"/>`,
      ...points.map((p, k) => `<circle cx="${X(xs[k]).toFixed(1)}" cy="${Y(p.valLoss).toFixed(1)}" r="4" fill="#1f77b4"/><text x="${(X(xs[k]) + 6).toFixed(1)}" y="${(Y(p.valLoss) - 6).toFixed(1)}" font-size="10">${p.value}</text>`),
      `<text x="${x0 + m.l + 8}" y="${m.t + 14}" fill="#d62728">L = ${fit.a.toPrecision(3)} · ${sym}^(−${fit.alpha.toFixed(3)} ± ${fit.alphaError.toFixed(3)})</text>`,
    ];
  };
  const esc = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
    `<text x="16" y="${H / 2}" text-anchor="middle" transform="rotate(-90 16 ${H / 2})">validation loss (log scale)</text>`,
    ...panel(0, points.map((p) => p.flops), byCompute, 'training compute C, FLOPs', 'C'),
    ...panel(W / 2, points.map((p) => p.params), byParams, 'parameters N', 'N'),
    `</svg>`,
  ].join('\n') + '\n';
}
