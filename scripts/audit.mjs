// Dependency audit for CI: `npm audit --omit=dev --audit-level=high`, with two decisions written down:
// - a high or critical advisory that has a fix fails the run (upgrade, or pin the fixed version);
// - one with no fix available is printed as a warning and does not fail it (nothing to do but wait
//   or replace the package; the lead reviews the warnings);
// - when the audit endpoint cannot be reached (offline CI, a registry mirror without the audit API),
//   the run warns and goes on, unless VOUCHSAFE_AUDIT_STRICT=1.
import { spawnSync } from 'node:child_process';

const strict = process.env.VOUCHSAFE_AUDIT_STRICT === '1';
const run = spawnSync('npm', ['audit', '--omit=dev', '--audit-level=high', '--json'], {
  encoding: 'utf8',
  timeout: 120_000,
  shell: process.platform === 'win32',
});

let report;
try {
  report = JSON.parse(run.stdout || '{}');
} catch {
  report = {};
}

if (!report.metadata || !report.vulnerabilities) {
  const why = report.message ?? report.error?.summary ?? (run.stderr || 'no answer').split('\n')[0];
  process.stderr.write(`audit: could not run the dependency audit (${why})\n`);
  process.exit(strict ? 1 : 0);
}

const serious = Object.values(report.vulnerabilities).filter((v) => v.severity === 'high' || v.severity === 'critical');
const fixable = serious.filter((v) => v.fixAvailable);
const unfixable = serious.filter((v) => !v.fixAvailable);
for (const v of unfixable)
  process.stderr.write(`audit: warning: ${v.severity} ${v.name} (${v.range}): no fix available\n`);
for (const v of fixable) process.stderr.write(`audit: ${v.severity} ${v.name} (${v.range}): a fix is available\n`);
if (fixable.length > 0) {
  process.stderr.write('audit: failing: upgrade the packages above (npm audit fix --omit=dev)\n');
  process.exit(1);
}
process.stdout.write(
  `audit: no fixable high or critical advisory in production dependencies (${unfixable.length} without a fix)\n`,
);
