import { SingleBar } from 'cli-progress';

/** A count with thousands separators. */
export const count = (x: number) => x.toLocaleString('en-US');

export const yuan = (minor: number) => `${(minor / 100).toLocaleString('en-US', { minimumFractionDigits: 2 })} yuan`;

/** A progress bar on stderr when it is a terminal and the output is not JSON; otherwise nothing. */
export function bar(
  label: string,
  unit: string,
  quiet: boolean,
): { opts: { onProgress?: (done: number, total: number) => void }; stop: () => void } {
  if (quiet || !process.stderr.isTTY) return { opts: {}, stop: () => undefined };
  const b = new SingleBar({ format: `${label} [{bar}] {value}/{total} ${unit}` });
  let started = false;
  return {
    opts: {
      onProgress: (done, total) => {
        if (!started) {
          b.start(total, 0);
          started = true;
        }
        b.update(done);
      },
    },
    stop: () => b.stop(),
  };
}
