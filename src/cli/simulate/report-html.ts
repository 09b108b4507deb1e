const lossCaption = (max: number) =>
  `Attack loss (yuan) after each simulated second. Peak: ${(max / 100).toLocaleString('en-US')} yuan.`;

/** A self-contained HTML report: one value per simulated second for each run, as inline SVG lines. */
export function lossHtml(
  title: string,
  series: Array<{ name: string; color: string; points: number[] }>,
  summary: string,
  caption: (max: number) => string = lossCaption,
): string {
  const w = 800;
  const h = 320;
  const max = Math.max(1, ...series.flatMap((s) => s.points));
  const len = Math.max(2, ...series.map((s) => s.points.length));
  const line = (pts: number[]) =>
    pts.map((v, i) => `${((i / (len - 1)) * w).toFixed(1)},${(h - (v / max) * h).toFixed(1)}`).join(' ');
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><html lang="en"><meta charset="utf-8"><title>${esc(title)}</title>
<body style="font-family:system-ui;margin:2rem"><h1>${esc(title)}</h1>
<p>${esc(caption(max))}</p>
<svg role="img" aria-label="loss over time" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" style="border:1px solid #ccc">
${series.map((s) => `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${line(s.points)}"/>`).join('\n')}
</svg>
<ul>${series.map((s) => `<li style="color:${s.color}">${esc(s.name)}</li>`).join('')}</ul>
<pre>${esc(summary)}</pre></body></html>
`;
}
