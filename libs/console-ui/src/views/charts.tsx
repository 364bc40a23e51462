import { bars, formatMicros, niceMax } from '../logic.ts';
import type { BudgetStanding } from '../logic.ts';

const PALETTE = ['#1f5fbf', '#b3261e', '#2e7d32', '#8a5a00', '#6a1b9a', '#00695c'];
const WIDTH = 560;
const HEIGHT = 180;
const PAD = { left: 56, bottom: 28, top: 10 };

/** Stacked bars per day, one colour per series, with the numbers in a table for screen readers. */
export function StackedBars(props: {
  title: string;
  days: readonly string[];
  series: readonly string[];
  values: Record<string, Record<string, number>>;
  format?: (value: number) => string;
  testId: string;
}) {
  const format = props.format ?? ((value: number) => String(value));
  const totals = props.days.map((day) => props.series.reduce((sum, name) => sum + (props.values[day]?.[name] ?? 0), 0));
  const max = niceMax(totals);
  const total = totals.reduce((sum, value) => sum + value, 0);
  const plotHeight = HEIGHT - PAD.bottom - PAD.top;
  const slot = (WIDTH - PAD.left) / Math.max(props.days.length, 1);
  const barWidth = Math.min(48, slot * 0.7);
  return (
    <figure class="chart" data-testid={props.testId} data-total={String(total)}>
      <figcaption>
        {props.title} <span class="hint">(total {format(total)})</span>
      </figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={`${props.title}: total ${format(total)}`}>
        <line x1={PAD.left} x2={WIDTH} y1={HEIGHT - PAD.bottom} y2={HEIGHT - PAD.bottom} class="axis" />
        <text x={PAD.left - 6} y={PAD.top + 4} text-anchor="end" class="tick">
          {format(max)}
        </text>
        <text x={PAD.left - 6} y={HEIGHT - PAD.bottom} text-anchor="end" class="tick">
          0
        </text>
        {props.days.map((day, index) => {
          let y = HEIGHT - PAD.bottom;
          const x = PAD.left + slot * index + (slot - barWidth) / 2;
          return (
            <g key={day}>
              {props.series.map((name, s) => {
                const value = props.values[day]?.[name] ?? 0;
                const height = (value / max) * plotHeight;
                y -= height;
                return (
                  <rect key={name} x={x} y={y} width={barWidth} height={height} fill={PALETTE[s % PALETTE.length]}>
                    <title>{`${day} ${name}: ${format(value)}`}</title>
                  </rect>
                );
              })}
              <text x={x + barWidth / 2} y={HEIGHT - 8} text-anchor="middle" class="tick">
                {day.slice(5)}
              </text>
            </g>
          );
        })}
      </svg>
      <ul class="legend">
        {props.series.map((name, s) => (
          <li key={name}>
            <span class={`swatch swatch-${s % PALETTE.length}`} aria-hidden="true" /> {name}
          </li>
        ))}
      </ul>
      <table class="sr-only">
        <caption>{props.title}</caption>
        <thead>
          <tr>
            <th scope="col">Day</th>
            {props.series.map((name) => (
              <th scope="col" key={name}>
                {name}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.days.map((day) => (
            <tr key={day}>
              <th scope="row">{day}</th>
              {props.series.map((name) => (
                <td key={name}>{format(props.values[day]?.[name] ?? 0)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

/** Horizontal bars, largest first (top denying policies, cost per success). */
export function HorizontalBars(props: {
  title: string;
  points: readonly { label: string; value: number }[];
  format?: (value: number) => string;
  testId: string;
}) {
  const format = props.format ?? ((value: number) => String(value));
  const scaled = bars(props.points);
  return (
    <figure class="chart" data-testid={props.testId}>
      <figcaption>{props.title}</figcaption>
      {scaled.bars.length === 0 ? (
        <p class="empty">No data yet.</p>
      ) : (
        <ul class="hbars">
          {scaled.bars.map((bar) => (
            <li key={bar.label}>
              <span class="hbar-label">{bar.label}</span>
              <svg viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true" class="hbar">
                <rect x="0" y="0" height="10" width={Math.max(bar.ratio * 100, 0.5)} />
              </svg>
              <span class="hbar-value">{format(bar.value)}</span>
            </li>
          ))}
        </ul>
      )}
    </figure>
  );
}

const PERIOD_LABEL: Readonly<Record<string, string>> = { day: 'today', week: 'this week', month: 'this month', window: 'in the window' };

/**
 * Spend against budgets: each budget's use in its open period against its limit, a bar with a
 * tick at each threshold (and at the approval and reads-only steps' first threshold), in words too.
 */
export function BudgetMeters({ standings }: { standings: readonly BudgetStanding[] }) {
  const amount = (standing: BudgetStanding, value: number): string =>
    standing.kind === 'money' ? formatMicros(value, standing.currency) : `${value} call${value === 1 ? '' : 's'}`;
  return (
    <figure class="chart budgets" data-testid="budget-chart">
      <figcaption>Spend against budgets (this period, settled)</figcaption>
      {standings.length === 0 ? (
        <p class="empty">No budgets announced for this tenant yet.</p>
      ) : (
        <ul class="meters">
          {standings.map((standing) => {
            const whose = standing.level === 'tenant' ? 'whole tenant' : standing.who === '*' ? `every ${standing.level}` : standing.who;
            const label = `${standing.scope} · ${whose}${standing.subject === '*' && standing.who !== '*' ? ' (default)' : ''}`;
            const words = `${amount(standing, standing.used)} of ${amount(standing, standing.limit)} ${PERIOD_LABEL[standing.period] ?? ''} (${standing.percent.toFixed(0)} %)`;
            const level = standing.percent >= 100 ? 'over' : standing.thresholds.some((t) => t < 100 && standing.percent >= t) ? 'warn' : 'ok';
            return (
              <li
                key={`${standing.scope}|${standing.who}|${standing.kind}|${standing.window_ms ?? ''}`}
                data-testid="budget-meter"
                data-scope={standing.scope}
                data-subject={standing.who}
                data-kind={standing.kind}
                data-used={String(standing.used)}
                data-limit={String(standing.limit)}
              >
                <span class="hbar-label">{label}</span>
                <svg viewBox="0 0 100 10" preserveAspectRatio="none" class={`meter meter-${level}`} role="img" aria-label={`${label}: ${words}`}>
                  <rect x="0" y="0" height="10" width="100" class="meter-track" />
                  <rect x="0" y="0" height="10" width={Math.min(Math.max(standing.percent, 0.5), 100)} class="meter-fill" />
                  {standing.thresholds
                    .filter((t) => t > 0 && t < 100)
                    .map((t) => (
                      <line key={t} x1={t} x2={t} y1="0" y2="10" class="meter-tick" />
                    ))}
                </svg>
                <span class="hbar-value">{words}</span>
              </li>
            );
          })}
        </ul>
      )}
    </figure>
  );
}
