import { writeFileSync } from 'node:fs';
import { clusterSection } from './cluster.ts';
import { codesSection } from './codes.ts';
import { engineSection } from './engine-hot.ts';
import { httpSection } from './http.ts';
import { incidentSection } from './incident.ts';
import { redEnvelopeSection } from './red-envelope.ts';
import { renderResults, runChildrenAsNpmStart, type Section } from './report.ts';
import { scalingSection } from './scaling.ts';

/** Every benchmark, in order; `npm run bench -- <name>...` runs a subset (and prints it only). */
const all: Record<string, () => Promise<Section>> = {
  engine: engineSection,
  http: httpSection,
  cluster: clusterSection,
  codes: codesSection,
  'red-envelope': redEnvelopeSection,
  incident: incidentSection,
  scaling: scalingSection,
};

runChildrenAsNpmStart();

const picked = process.argv.slice(2).filter((a) => a in all);
const names = picked.length > 0 ? picked : Object.keys(all);
const started = new Date();
const sections: Section[] = [];
for (const name of names) {
  const run = all[name];
  if (!run) continue;
  process.stderr.write(`bench: ${name}...\n`);
  sections.push(await run());
}
const text = renderResults(sections, started);
if (picked.length === 0) {
  writeFileSync(new URL('./RESULTS.md', import.meta.url), text);
  process.stderr.write('bench: wrote bench/RESULTS.md\n');
}
process.stdout.write(text);
