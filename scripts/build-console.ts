// Builds the admin console (src/console) with Vite into src/console/dist, served at /console.
// Usage: npm run build:console            (always builds)
//        node --import tsx scripts/build-console.ts --if-stale   (prestart / pretest: only when sources changed)
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const root = join(repo, 'src/console');
const dist = join(root, 'dist');

/** Everything the bundle is made from; a newer file than the built shell means a rebuild. */
const inputs = [
  'src/console/src',
  'src/console/index.html',
  'client',
  'src/domain/product-kinds.ts',
  'package-lock.json',
];

function newestMtimeMs(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtimeMs(join(path, name)));
  return newest;
}

/** True when dist/index.html is missing or older than any input. */
export function consoleIsStale(): boolean {
  const shell = join(dist, 'index.html');
  if (!existsSync(shell)) return true;
  const built_ms = statSync(shell).mtimeMs;
  return inputs.some((p) => newestMtimeMs(join(repo, p)) > built_ms);
}

/** Vite build of the console: hashed files only, no inline script, no module-preload polyfill. */
export async function buildConsole(): Promise<void> {
  const { build } = await import('vite');
  await build({
    configFile: false,
    root,
    base: '/console/',
    logLevel: 'warn',
    oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
    build: {
      outDir: dist,
      emptyOutDir: true,
      target: 'es2022',
      // The CSP allows no inline script or style: keep every asset a file.
      assetsInlineLimit: 0,
      modulePreload: { polyfill: false },
      reportCompressedSize: false,
      chunkSizeWarningLimit: 200,
    },
  });
}

/** Builds when needed; true when the console is ready to serve. */
export async function ensureConsoleBuilt(): Promise<boolean> {
  if (!consoleIsStale()) return true;
  try {
    await import('vite');
  } catch {
    // A production install without devDependencies: the server answers /console with 503.
    console.warn('vite is not installed (npm ci without dev dependencies?): the admin console is not built');
    return false;
  }
  await buildConsole();
  return true;
}

const main = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (main) {
  if (process.argv.includes('--if-stale')) await ensureConsoleBuilt();
  else await buildConsole();
}
