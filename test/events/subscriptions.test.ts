import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Subscriptions } from '../../src/events/subscriptions.ts';
import type { Store } from '../../src/store/port.ts';
import type { WebhookRecord } from '../../src/store/port-events.ts';

const hook: WebhookRecord = {
  id: 'whk_1',
  url: 'https://example.com/hook',
  events: ['redemption.confirmed'],
  secret: 'whsec_x',
  created_at_ms: 1,
  deleted_at_ms: null,
};

/** A store whose webhook reads answer when the test says, in any order. */
function heldReads() {
  const pending: Array<(hooks: WebhookRecord[]) => void> = [];
  const store = {
    liveWebhooks: () => new Promise<WebhookRecord[]>((resolve) => pending.push(resolve)),
  } as unknown as Store;
  return { store, answer: (i: number, hooks: WebhookRecord[]) => pending[i]?.(hooks) };
}

test('a refresh that read the webhooks earlier does not overwrite a later one that answered first', async () => {
  const { store, answer } = heldReads();
  const subs = new Subscriptions(store, false);
  // The periodic refresh reads just before a webhook is created ...
  const periodic = subs.refresh();
  // ... and the create's own refresh reads after it and answers first: the type is wanted at once.
  const onCreate = subs.refresh();
  answer(1, [hook]);
  await onCreate;
  assert.equal(subs.wants('redemption.confirmed'), true);
  // The older read comes back late; it must not drop the new webhook's types until the next refresh.
  answer(0, []);
  await periodic;
  assert.equal(subs.wants('redemption.confirmed'), true);
});
