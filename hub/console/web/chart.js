// Line charts with uPlot (served from the installed package). The API gives points as
// [ISO time with the site offset, value]; uPlot wants epoch seconds, and shows them in the
// PC's zone unless told otherwise, so the tick labels are written from the ISO text itself.
import uPlot from '/console/vendor/uplot.js';

const COLOURS = ['#1d2330', '#2f6fde', '#d9822b', '#2e9d5b', '#9b51e0', '#c0392b', '#16a2b8', '#7f8c8d'];
const charts = new WeakMap();

export function lineChart(el, seriesByLabel) {
  const labels = Object.keys(seriesByLabel);
  const times = new Map(); // epoch s → ISO
  for (const l of labels) for (const [iso] of seriesByLabel[l]) times.set(Date.parse(iso) / 1000, iso);
  const xs = [...times.keys()].sort((a, b) => a - b);
  const data = [xs, ...labels.map((l) => {
    const by = new Map(seriesByLabel[l].map(([iso, v]) => [Date.parse(iso) / 1000, v]));
    return xs.map((x) => (by.has(x) ? by.get(x) : null));
  })];
  // The site's offset, from the API's own times: tick labels in the site's wall-clock time.
  const m = /([+-])(\d\d):(\d\d)$/.exec(times.values().next().value || '');
  const offsetS = m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 3600 + Number(m[3]) * 60) : 0;
  const siteIso = (s) => times.get(s) || new Date((s + offsetS) * 1000).toISOString();
  const key = JSON.stringify(data) + labels.join('|') + el.clientWidth;
  const prev = charts.get(el);
  if (prev && prev.key === key) return;
  if (prev) prev.chart.destroy();
  el.replaceChildren();
  if (xs.length === 0) {
    el.textContent = '尚无数据 / no data yet';
    charts.delete(el);
    return;
  }
  const opts = {
    width: Math.max(300, el.clientWidth || 800),
    height: 260,
    scales: { x: { time: true } },
    axes: [{ values: (_u, ticks) => ticks.map((s) => siteIso(s).slice(11, 16)) }, {}],
    series: [{ value: (_u, s) => (s === null ? '' : siteIso(s).slice(0, 16).replace('T', ' ')) }, ...labels.map((l, i) => ({ label: l, stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: true }))],
  };
  charts.set(el, { key, chart: new uPlot(opts, data, el) });
}
