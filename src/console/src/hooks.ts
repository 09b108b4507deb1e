import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, messageOf } from './api.ts';

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/** How soon a one-shot load (usePoll with no interval) that failed is tried again, unless a Retry-After says. */
export const retry_ms = 5000;

/**
 * When a failed one-shot load is tried again: as the server's Retry-After asks, else after retry_ms;
 * null when asking again cannot help (a refusal of the request itself: 401, 403, 404...).
 */
function retryDelayMs(e: unknown): number | null {
  if (!(e instanceof ApiError)) return null;
  const passing = e.status === 0 || e.status === 408 || e.status === 429 || e.status >= 500;
  if (!passing) return null;
  return e.retry_after_s === undefined ? retry_ms : e.retry_after_s * 1000;
}

/**
 * Loads once and then every interval_ms while the tab is visible (null: once, but a load that
 * failed for a passing reason, a network error, 429 or 5xx, is tried again until one succeeds: an
 * outage of a moment must not leave the page without its data until a reload). A failed poll
 * keeps the last good data and shows the error beside it.
 */
export function usePoll<T>(load: () => Promise<T>, interval_ms: number | null, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    let alive = true;
    let timer: number | undefined;
    const run = async () => {
      let next_ms = interval_ms;
      if (document.visibilityState !== 'hidden') {
        try {
          const value = await loadRef.current();
          if (!alive) return;
          setData(value);
          setError(null);
        } catch (e) {
          if (alive) setError(messageOf(e));
          next_ms ??= retryDelayMs(e);
        }
        if (alive) setLoading(false);
      }
      if (alive && next_ms !== null) timer = window.setTimeout(run, next_ms);
    };
    void run();
    return () => {
      alive = false;
      window.clearTimeout(timer);
    };
  }, [...deps, tick, interval_ms]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

/** One action at a time from a form: `busy` while it runs, its failure as `error` (cleared on the next run). */
export function useAction(): {
  busy: boolean;
  error: string | null;
  run: (work: () => Promise<void>) => Promise<void>;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (e) {
      setError(messageOf(e));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run };
}
