import type { LintFinding } from '../api.ts';

const order = { error: 0, warning: 1, info: 2 } as const;

export function lintSummary(lint: readonly LintFinding[]): string {
  if (lint.length === 0) return 'No lint findings';
  const n = (s: LintFinding['severity']) => lint.filter((f) => f.severity === s).length;
  const parts = [
    [n('error'), 'error'],
    [n('warning'), 'warning'],
    [n('info'), 'note'],
  ] as const;
  return parts
    .filter(([k]) => k > 0)
    .map(([k, word]) => `${k} ${word}${k === 1 ? '' : 's'}`)
    .join(', ');
}

/** Findings, errors first, each with its severity in words (not only in colour). */
export function LintList({ lint }: { lint: readonly LintFinding[] }) {
  if (lint.length === 0) return <p class="lint-clean">No lint findings.</p>;
  const sorted = [...lint].sort((a, b) => order[a.severity] - order[b.severity]);
  return (
    <ul class="lint">
      {sorted.map((f) => (
        <li key={f.rule} class={`finding ${f.severity}`} data-rule={f.rule}>
          <strong class="severity">{f.severity}</strong> {f.message}
        </li>
      ))}
    </ul>
  );
}
