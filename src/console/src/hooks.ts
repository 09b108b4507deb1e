import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { messageOf } from './api.ts';

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/**
 * Loads once and then every interval_ms while the tab is visible (null: once). A failed poll
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
      if (document.visibilityState !== 'hidden') {
        try {
          const value = await loadRef.current();
          if (!alive) return;
          setData(value);
          setError(null);
        } catch (e) {
          if (alive) setError(messageOf(e));
        }
        if (alive) setLoading(false);
      }
      if (alive && interval_ms !== null) timer = window.setTimeout(run, interval_ms);
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
