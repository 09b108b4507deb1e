import type { Engine } from '../../engine/engine.ts';
import type { StoredReplies } from '../idempotency.ts';
import type { HttpMetrics } from '../metrics.ts';

/** What every route plugin is given as its options. */
export interface RouteDeps {
  engine: Engine;
  metrics: HttpMetrics;
  replies: StoredReplies;
  /** Stored JSON per page of the lists whose items can be large (campaigns, incidents, audit). */
  page_bytes_max: number;
}
