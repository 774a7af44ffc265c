/**
 * `--out report.html`: a self-contained page (inline CSS and SVG, no external assets) with, per
 * profile, a horizontal bar chart of rows/s per contender — sorted, values printed on the bars, rb
 * in its own colour, a dashed line at the raw psql binary pipe — then the table, and the machine.
 */
import type { BenchReport, ContenderReport, ProfileReport } from './report.js';
import { isRbKind } from './contenders/contender.js';
import { describeRbTelemetry, formatMb, formatServerCpu } from './report.js';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const int = (n: number): string => Math.round(n).toLocaleString('en-US');

const COLORS: Record<string, string> = { rb: '#d9480f', 'rb-replace': '#f08c00', 'rb-upsert': '#e8590c', 'psql-binary-pk': '#343a40', 'pg-dump': '#5f3dc4', 'psql-binary': '#495057', 'psql-text': '#868e96', pgcopydb: '#1c7ed6', 'node-pipe': '#2b8a3e' };

/** Round-number axis maximum at or just above `max` (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k). */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const exp = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * exp >= max) return m * exp;
  return 10 * exp;
}

// White halo behind text, so a label stays readable where the reference line crosses it.
const HALO = 'paint-order="stroke" stroke="#fff" stroke-width="4" stroke-linejoin="round"';

const compact = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)}k` : `${Math.round(n)}`);

export function barChartSvg(p: ProfileReport): string {
  const bars = p.contenders.filter((c): c is ContenderReport & { rows_per_second: number } => c.status === 'ok' && c.rows_per_second !== undefined).sort((a, b) => b.rows_per_second - a.rows_per_second);
  const labelW = 230;
  const barH = 30;
  const gap = 12;
  const chartW = 560;
  const valueW = 190;
  const top = 56;
  const height = top + bars.length * (barH + gap) + 36;
  const width = labelW + chartW + valueW;
  const axisMax = niceMax(Math.max(1, ...bars.map((b) => b.rows_per_second)));
  const x = (v: number): number => labelW + (v / axisMax) * chartW;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="rows per second per contender, profile ${esc(p.profile)}" font-family="system-ui, sans-serif">`);
  parts.push(`<text x="${labelW}" y="18" font-size="14" font-weight="600" fill="#212529">rows/s — longer is faster</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = (axisMax * i) / 4;
    const gx = x(v);
    parts.push(`<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${height - 28}" stroke="#e9ecef"/>`);
    parts.push(`<text x="${gx}" y="${height - 12}" font-size="12" fill="#868e96" text-anchor="middle">${compact(v)}</text>`);
  }
  bars.forEach((b, i) => {
    const y = top + i * (barH + gap);
    const color = COLORS[b.kind] ?? '#adb5bd';
    const weight = isRbKind(b.kind) ? '700' : '400';
    parts.push(`<text x="${labelW - 10}" y="${y + barH / 2 + 5}" font-size="14" font-weight="${weight}" fill="#212529" text-anchor="end">${esc(b.label)}</text>`);
    parts.push(`<rect x="${labelW}" y="${y}" width="${Math.max(1, x(b.rows_per_second) - labelW)}" height="${barH}" rx="3" fill="${color}"/>`);
  });
  // The reference line goes under the value labels (drawn next) and over the bars.
  const ref = bars.find((b) => b.kind === 'psql-binary');
  if (ref) {
    const rx = x(ref.rows_per_second);
    parts.push(`<line x1="${rx}" y1="${top - 8}" x2="${rx}" y2="${height - 28}" stroke="#212529" stroke-dasharray="5 4" stroke-width="1.5"/>`);
    parts.push(`<text x="${rx}" y="${top - 14}" font-size="12" fill="#495057" text-anchor="middle">raw psql binary pipe = 1.00×</text>`);
  }
  bars.forEach((b, i) => {
    const y = top + i * (barH + gap);
    const weight = isRbKind(b.kind) ? '700' : '400';
    const ratio = b.ratio_to_psql_binary === undefined ? '' : ` · ${b.ratio_to_psql_binary.toFixed(2)}×`;
    const label = `${int(b.rows_per_second)}${ratio}`;
    // A white box behind the label: readable where the reference line crosses it.
    parts.push(`<rect x="${x(b.rows_per_second) + 4}" y="${y + 5}" width="${Math.ceil(label.length * 7.6) + 8}" height="${barH - 10}" fill="#fff"/>`);
    parts.push(`<text x="${x(b.rows_per_second) + 8}" y="${y + barH / 2 + 5}" font-size="13" font-weight="${weight}" fill="#212529" ${HALO}>${label}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function tableHtml(p: ProfileReport): string {
  const head = ['contender', 'status', 'median s', 'rows/s', 'MB/s', 'peak RSS', 'CPU s', 'server CPU s', 'vs psql binary'];
  const rows = p.contenders.map((c) => {
    if (c.status !== 'ok') return `<tr><td>${esc(c.label)}</td><td class="${c.status}" colspan="8">${esc(c.status)}: ${esc(c.reason ?? '')}</td></tr>`;
    const cells = [c.median_seconds!.toFixed(2), int(c.rows_per_second!), c.mb_per_second!.toFixed(1), formatMb(c.peak_rss_bytes!), c.cpu_seconds!.toFixed(2), formatServerCpu(c.server_cpu_seconds), c.ratio_to_psql_binary === undefined ? '—' : `${c.ratio_to_psql_binary.toFixed(2)}×`];
    return `<tr${isRbKind(c.kind) ? ' class="rb"' : ''}><td>${esc(c.label)}</td><td>ok</td>${cells.map((x) => `<td class="num">${x}</td>`).join('')}</tr>`;
  });
  return `<table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function profileSection(p: ProfileReport): string {
  const tables = p.tables.map((t) => `${t.table}: ${int(t.rows)} rows`).join(', ');
  const notes = p.contenders.filter((c) => c.note).map((c) => `<li>${esc(c.label)}: ${esc(c.note!)}</li>`);
  const rb = p.contenders.filter((c) => c.rb && c.status === 'ok').map((c) => `<li>${esc(c.label)}: ${esc(describeRbTelemetry(c.rb!, c.runs.at(-1)?.wall_seconds))}</li>`);
  return `<section>
<h2>Profile ${esc(p.profile)} <small>${esc(p.description)} — ${int(p.rows)} rows, ${formatMb(p.text_bytes)} (${esc(tables)})</small></h2>
${barChartSvg(p)}
${tableHtml(p)}
<p class="fine">Median of ${p.iterations} run${p.iterations === 1 ? '' : 's'} ${p.warmup === false ? 'without' : 'after'} a warm-up, contenders in alternation, each run from empty destination tables and verified (row count and checksum). Source: PostgreSQL ${esc(p.source.serverVersion)}${p.source.embedded ? ' (embedded)' : ''}; destination: PostgreSQL ${esc(p.destination.serverVersion)}${p.destination.embedded ? ' (embedded)' : ''}.</p>
${rb.length ? `<p>rb telemetry:</p><ul>${rb.join('')}</ul>` : ''}
${notes.length ? `<p>Notes:</p><ul>${notes.join('')}</ul>` : ''}
</section>`;
}

export function renderHtml(report: BenchReport): string {
  const m = report.machine;
  const machine = [
    ['CPU', `${m.cores} cores — ${m.cpu_model}`],
    ['Memory', `${m.memory_gib} GiB`],
    ['PostgreSQL', m.postgres],
    ['OS', m.os],
    ['Node', m.node],
    ['psql', m.psql ?? 'not installed'],
    ['pgcopydb', m.pgcopydb ?? 'not installed'],
    ['CPU time from', m.cpu_measurement === 'gnu-time' ? 'GNU time (wait4, whole process tree)' : '/proc polling'],
  ];
  const gate = report.gate ? `<p class="${report.gate.pass ? 'pass' : 'fail'}">${esc(report.gate.message)}</p>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rb bench — ${esc(report.profiles.map((p) => p.profile).join(', '))}</title>
<style>
body { font-family: system-ui, sans-serif; color: #212529; max-width: 1040px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 small { font-weight: 400; color: #495057; font-size: 0.65em; }
table { border-collapse: collapse; margin: 1em 0; } th, td { padding: 4px 10px; border-bottom: 1px solid #dee2e6; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } tr.rb td { font-weight: 600; }
td.failed, .fail { color: #c92a2a; } td.skipped { color: #868e96; } .pass { color: #2b8a3e; }
.fine { color: #495057; font-size: 0.9em; } dl { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; } dt { font-weight: 600; }
</style></head><body>
<h1>rb bench</h1>
<p>${esc(new Date(report.created_at).toUTCString())} — rb against the raw psql COPY pipes, pgcopydb and a plain Node pipe. Ratio (×) = psql binary seconds / contender seconds, higher is faster: the median over iterations of each run against the psql run made beside it, so on a noisy machine it can differ from the ratio of the medians.</p>
${gate}
${report.profiles.map(profileSection).join('\n')}
<h2>Machine</h2>
<dl>${machine.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>
<p class="fine">MB = 10^6 bytes of the rows' text form. Peak RSS is the sum of each client process's high-water mark (VmHWM); CPU is user + system seconds of the client process tree. Server CPU is source+destination: the CPU the local (embedded) servers' processes used during the run (— for a remote server); on a small machine clients and servers share the same cores.</p>
</body></html>
`;
}
