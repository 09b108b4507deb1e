import { describe, test } from 'node:test';
import {
  approvalHeldByIncident,
  approvalRacesIncident,
  changedBackToApprovalStaysHeld,
} from '../support/incident-approval.ts';
import { sqliteFiles } from '../support/incident-faults.ts';

/** A fresh database file; every node of one scenario opens its own connection to it. */
const sqliteFile = sqliteFiles('vs-incident-approval-');

describe('an incident that pauses holds back campaigns not live yet (SQLite file)', () => {
  test('approve and submit in scope are refused while it is open, naming it; outside it, and once resolved, they work', () =>
    approvalHeldByIncident(sqliteFile()));

  test('a paused campaign sent back for approval by a change stays held by a merchant-scoped incident', () =>
    changedBackToApprovalStaysHeld(sqliteFile()));

  test('an approval racing the opening on another engine: refused, or committed first and then paused', () =>
    approvalRacesIncident(sqliteFile()));
});
