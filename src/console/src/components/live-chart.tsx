import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useEffect, useRef } from 'preact/hooks';
import { minorDigits } from '../../../domain/currency.ts';
import { count, money } from '../format.ts';

/** One poll of a campaign: running totals at a moment. */
export interface Sample {
  at_ms: number;
  redeemed: number;
  /** spent + reserved: money the campaign has committed so far. */
  committed_minor: number;
}

/** Samples kept for the chart: two minutes at one poll a second. */
export const samples_max = 120;

/** The chart's history, in time: what its peak and its window speak of. */
const history_ms = samples_max * 1000;

/**
 * The samples with `next` added, those older than two minutes before it dropped: polls stop while
 * the tab is hidden or the machine sleeps, and a count of samples would then reach back hours.
 */
export function withSample(samples: readonly Sample[], next: Sample): Sample[] {
  return [...samples, next].filter((s) => s.at_ms >= next.at_ms - history_ms).slice(-samples_max);
}

interface Rates {
  t_s: number[];
  per_s: number[];
  burn_minor_per_s: number[];
}

/** Polls apart that a rate is measured over: two smooths out a poll landing between two bursts. */
const rate_span = 2;

/** Rates over the last rate_span polls (the first sample only anchors the next). */
export function ratesOf(samples: readonly Sample[]): Rates {
  const out: Rates = { t_s: [], per_s: [], burn_minor_per_s: [] };
  for (let i = 1; i < samples.length; i++) {
    const a = samples[Math.max(0, i - rate_span)];
    const b = samples[i];
    if (a === undefined || b === undefined) continue;
    const dt_s = Math.max((b.at_ms - a.at_ms) / 1000, 0.001);
    out.t_s.push(b.at_ms / 1000);
    out.per_s.push(Math.max(0, (b.redeemed - a.redeemed) / dt_s));
    out.burn_minor_per_s.push((b.committed_minor - a.committed_minor) / dt_s);
  }
  return out;
}

/** Seconds of history shown: from the first sample up to two minutes, never less than 20 s. */
function rollingWindow(min_s: number, max_s: number): [number, number] {
  // Never past now: with a single point uPlot widens a time scale's max by 86400 / 1e-3 s, 1000 days.
  const now_s = Date.now() / 1000;
  const end_s = Number.isFinite(max_s) ? Math.min(max_s, now_s) : now_s;
  const first_s = Number.isFinite(min_s) ? min_s : end_s;
  const start_s = Math.min(end_s - 20, Math.max(first_s, end_s - samples_max));
  return [start_s, end_s];
}

/** The chart's clock: UTC, as every other time in the console (uPlot's default is the browser's zone). */
const utc = (t_s: number): Date => uPlot.tzDate(new Date(t_s * 1000), 'Etc/UTC');

const _ = null;
const date = '\n{YYYY}-{MM}-{DD}';
/**
 * Time axis labels, 24-hour as format.ts's when() writes times (uPlot's default is 12-hour, US
 * dates). Per tick size: the label, then what a tick adds below it when the year, month, day, hour
 * or minute changes; the first tick always carries the date.
 */
const time_values: uPlot.Axis.Values = [
  // [tick size in s, label, + on a new year, month, day, hour, minute, second, mode (1: on a change only)]
  [86_400, '{YYYY}-{MM}-{DD}', _, _, _, _, _, _, 1],
  [60, '{HH}:{mm}', date, _, date, _, _, _, 1],
  [1, ':{ss}', `${date} {HH}:{mm}`, _, `${date} {HH}:{mm}`, _, '\n{HH}:{mm}', _, 1],
];

function options(width: number, currency: string): uPlot.Options {
  return {
    width,
    height: 220,
    tzDate: utc,
    legend: { show: true, live: false },
    cursor: { drag: { x: false, y: false } },
    scales: {
      // A rolling window: the newest sample at the right edge.
      x: { time: true, range: (_u, min, max) => rollingWindow(min, max) },
      n: { range: (_u, _min, max) => [0, Number.isFinite(max) ? Math.max(1, max * 1.1) : 1] },
    },
    series: [
      {},
      {
        label: 'Redemptions / s',
        scale: 'n',
        stroke: '#2563eb',
        // Filled, so the rate stays visible where the burn line runs on top of it.
        fill: 'rgba(37, 99, 235, 0.15)',
        width: 2,
        value: (_u, v) => (v == null ? '–' : v.toFixed(1)),
      },
      {
        label: `Burn (${currency} / s)`,
        scale: 'm',
        stroke: '#dc2626',
        width: 2,
        dash: [6, 4],
        value: (_u, v) => (v == null ? '–' : v.toFixed(2)),
      },
    ],
    axes: [
      // Two lines of labels (the date or a new minute under the seconds), then the zone.
      { stroke: '#475569', label: 'Time (UTC)', values: time_values, size: 56 },
      { scale: 'n', stroke: '#2563eb', size: 48 },
      { scale: 'm', side: 1, stroke: '#dc2626', size: 60, grid: { show: false } },
    ],
  };
}

/**
 * Redemptions per second and budget burn, live. The canvas is decoration for sighted users;
 * the numbers beside it (and the data-* attributes tests read) carry the same facts as text.
 */
export function LiveChart({ samples, currency }: { samples: readonly Sample[]; currency: string }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const rates = ratesOf(samples);
  const unit = 10 ** minorDigits(currency);
  const data: uPlot.AlignedData = [rates.t_s, rates.per_s, rates.burn_minor_per_s.map((m) => m / unit)];

  useEffect(() => {
    const el = host.current;
    if (el === null) return;
    const chart = new uPlot(options(Math.max(200, el.clientWidth), currency), [[], [], []], el);
    plot.current = chart;
    const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(200, el.clientWidth), height: 220 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
  }, [currency]);

  useEffect(() => {
    plot.current?.setData(data);
  });

  const last = samples[samples.length - 1];
  const rate = rates.per_s[rates.per_s.length - 1] ?? 0;
  const burn_minor = rates.burn_minor_per_s[rates.burn_minor_per_s.length - 1] ?? 0;
  const peak = rates.per_s.reduce((m, v) => Math.max(m, v), 0);
  return (
    <figure
      class="live-chart"
      data-testid="live-chart"
      data-samples={samples.length}
      data-redeemed={last?.redeemed ?? 0}
      data-committed-minor={last?.committed_minor ?? 0}
      data-peak-rate={peak.toFixed(2)}
    >
      <div ref={host} class="chart-canvas" aria-hidden="true" />
      <figcaption>
        <dl class="stats" aria-live="off">
          <div>
            <dt>Redemptions now</dt>
            <dd data-testid="rate">{rate.toFixed(1)} / s</dd>
          </div>
          <div>
            <dt>Peak (last 2 min)</dt>
            <dd>{peak.toFixed(1)} / s</dd>
          </div>
          <div>
            <dt>Budget burn now</dt>
            <dd>{money(Math.round(burn_minor), currency)} / s</dd>
          </div>
          <div>
            <dt>Redeemed in total</dt>
            <dd data-testid="redeemed-total">{count(last?.redeemed ?? 0)}</dd>
          </div>
        </dl>
      </figcaption>
    </figure>
  );
}
