import { limits } from '../../config/limits.ts';
import { Rejection } from '../../domain/errors.ts';
import { type IncidentAction, type IncidentScope, incidentActions } from '../../domain/incident.ts';
import { atMostChars } from '../../domain/text.ts';

/** What opening an incident takes, parsed (times in ms). */
export interface IncidentInput {
  title: string;
  scope: IncidentScope;
  actions: IncidentAction[];
}

function checkIds(ids: string[] | null, max: number, param: string): void {
  if (ids === null) return;
  if (ids.length === 0 || ids.length > max) throw new Rejection('invalid_request', `must list 1-${max} ids`, param);
  if (new Set(ids).size !== ids.length) throw new Rejection('invalid_request', 'must not repeat an id', param);
  for (const id of ids) {
    if (typeof id !== 'string' || id.length === 0 || !atMostChars(id, limits.name_chars_max)) {
      throw new Rejection('invalid_request', `ids are 1-${limits.name_chars_max} characters`, param);
    }
  }
}

/** Refuses malformed input before anything changes (the HTTP schema checks shapes; this checks meaning). */
export function checkIncidentInput(input: IncidentInput): void {
  const title = input.title.trim();
  if (title.length === 0 || !atMostChars(input.title, limits.incident_title_chars_max)) {
    throw new Rejection('invalid_request', `title must be 1-${limits.incident_title_chars_max} characters`, 'title');
  }
  const { scope } = input;
  checkIds(scope.campaign_ids, limits.incident_campaigns_max, 'scope.campaign_ids');
  checkIds(scope.merchant_ids, limits.merchant_ids_max, 'scope.merchant_ids');
  if (scope.campaign_ids === null && scope.merchant_ids === null) {
    // The whole platform at once is the emergency stop's job, not an incident's.
    throw new Rejection('invalid_request', 'scope needs campaign_ids or merchant_ids', 'scope');
  }
  if (scope.from_ms !== null && scope.to_ms !== null && scope.from_ms >= scope.to_ms) {
    throw new Rejection('invalid_request', 'scope.to must be after scope.from', 'scope.to');
  }
  if (
    new Set(input.actions).size !== input.actions.length ||
    !input.actions.every((a) => incidentActions.includes(a))
  ) {
    throw new Rejection('invalid_request', `actions are distinct values of ${incidentActions.join(', ')}`, 'actions');
  }
}
