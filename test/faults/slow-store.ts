import type { Store } from '../../src/store/port.ts';

/** How slow the wrapped store is right now; tests change it while load runs. */
export interface Slowness {
  /** Added before every runBatch (the write transaction). */
  batch_ms: number;
  /** Added before every other store call (reads, idempotency lookups, key lookups). */
  read_ms: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A Store whose every call first waits: a disk or a database that has become slow. */
export function slowStore(inner: Store, slowness: Slowness): Store {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || prop === 'close' || prop === 'migrate') {
        return typeof value === 'function' ? value.bind(target) : value;
      }
      const fn = value as (...args: unknown[]) => unknown;
      return async (...args: unknown[]) => {
        const ms = prop === 'runBatch' ? slowness.batch_ms : slowness.read_ms;
        if (ms > 0) await sleep(ms);
        return fn.apply(target, args);
      };
    },
  });
}
