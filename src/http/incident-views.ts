import type { Static } from '@sinclair/typebox';
import type { Alert, Incident, IncidentReport, IncidentScope } from '../domain/incident.ts';
import type { IncidentInput } from '../engine/incidents/incident-input.ts';
import type { AlertView, IncidentCreate, IncidentView } from './incident-schemas.ts';
import { formatNullableTimestamp, formatTimestamp, parseTimestampMs } from './time.ts';

export type AlertWire = Static<typeof AlertView>;
export type IncidentWire = Static<typeof IncidentView>;

export function alertView(a: Alert): AlertWire {
  return {
    id: a.id,
    kind: a.kind,
    campaign_id: a.campaign_id,
    merchant_id: a.merchant_id,
    subject: a.subject,
    observed: a.observed,
    baseline: a.baseline,
    action: a.action,
    created_at: formatTimestamp(a.created_at_ms),
  };
}

function scopeView(s: IncidentScope): IncidentWire['scope'] {
  return {
    campaign_ids: s.campaign_ids,
    merchant_ids: s.merchant_ids,
    from: formatNullableTimestamp(s.from_ms),
    to: formatNullableTimestamp(s.to_ms),
  };
}

/** A report stored before holds were released (an incident then froze them) shows that it released none. */
function reportView(r: IncidentReport | null): IncidentWire['report'] {
  if (r === null) return null;
  const stored: Partial<Pick<IncidentReport, 'released_holds_count' | 'released_holds_minor'>> = r;
  const released_holds_count = stored.released_holds_count ?? 0;
  return { ...r, released_holds_count, released_holds_minor: stored.released_holds_minor ?? 0 };
}

export function incidentView(i: Incident): IncidentWire {
  const { updated_at_ms, ...progress } = i.progress;
  return {
    id: i.id,
    status: i.status,
    title: i.title,
    scope: scopeView(i.scope),
    actions: i.actions,
    campaign_ids: i.campaign_ids,
    report: reportView(i.report),
    progress: { ...progress, updated_at: formatTimestamp(updated_at_ms) },
    resolution: i.resolution,
    resolved: i.resolved,
    created_at: formatTimestamp(i.created_at_ms),
    resolved_at: formatNullableTimestamp(i.resolved_at_ms),
  };
}

/** The wire body, parsed: RFC 3339 times to ms (strictly: Feb 30 is refused). */
export function incidentInputOf(body: Static<typeof IncidentCreate>): IncidentInput {
  const { scope } = body;
  return {
    title: body.title,
    actions: body.actions,
    scope: {
      campaign_ids: scope.campaign_ids ?? null,
      merchant_ids: scope.merchant_ids ?? null,
      from_ms: scope.from == null ? null : parseTimestampMs(scope.from, 'scope.from'),
      to_ms: scope.to == null ? null : parseTimestampMs(scope.to, 'scope.to'),
    },
  };
}
