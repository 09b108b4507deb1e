import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Store } from '../port.ts';
import { batchContract } from './batch-contract.ts';
import type { OpenStore } from './builders.ts';
import { campaignChangeContract } from './campaign-change-contract.ts';
import { campaignContract } from './campaign-contract.ts';
import { couponCheckContract } from './coupon-check-contract.ts';
import { eventsContract } from './events-contract.ts';
import { incidentContract } from './incident-contract.ts';
import { platformContract } from './platform-contract.ts';
import { readContract } from './read-contract.ts';
import { redEnvelopeContract } from './red-envelope-contract.ts';
import { snapshotContract } from './snapshot-contract.ts';

export interface DescribeStoreOptions {
  /** Why the suite is skipped when `open` returns null, e.g. how to point it at a database. */
  unavailable_message?: string;
}

/**
 * The one Store contract, written once and run per adapter. `open` is called once per
 * test and must return a fresh, migrated, empty store, or null when the backing
 * database is not reachable (the whole suite is then skipped, with a message).
 */
export function describeStore(name: string, open: () => Promise<Store | null>, opts: DescribeStoreOptions = {}): void {
  describe(`store contract: ${name}`, async () => {
    const probe = await open();
    if (!probe) {
      test.skip(opts.unavailable_message ?? `${name} is not reachable; its opener returned null`);
      return;
    }
    await probe.close();
    const fresh: OpenStore = async () => {
      const store = await open();
      assert.ok(store, `${name} became unreachable during the suite`);
      return store;
    };
    describe('campaigns', () => campaignContract(fresh));
    describe('runBatch', () => batchContract(fresh));
    describe('reads', () => readContract(fresh));
    describe('coupon checks', () => couponCheckContract(fresh));
    describe('platform', () => platformContract(fresh));
    describe('campaign changes', () => campaignChangeContract(fresh));
    describe('events', () => eventsContract(fresh));
    describe('red envelopes', () => redEnvelopeContract(fresh));
    describe('incidents', () => incidentContract(fresh));
    describe('read snapshots', () => snapshotContract(fresh));
  });
}
