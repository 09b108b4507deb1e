import { useRef, useState } from 'preact/hooks';
import { type Campaign, ok } from '../api.ts';
import { useApi } from '../context.ts';
import { ConfirmButton } from './confirm-dialog.tsx';

/**
 * The campaign's stop controls, biggest first. Pause stops new claims and redemptions at once
 * (resumable); revoke ends the campaign for good and revokes every unredeemed coupon.
 */
export function KillSwitch({ c, onChange }: { c: Campaign; onChange: () => void }) {
  const api = useApi();
  const heading = useRef<HTMLHeadingElement>(null);
  const [done, setDone] = useState('');
  const path = { params: { path: { id: c.id } } };
  // The button pressed is gone once the status changes: keep focus in this panel and say what happened.
  const after = (message: string) => () => {
    setDone(message);
    heading.current?.focus();
    onChange();
  };
  const live = c.status === 'active' || c.status === 'paused' || c.status === 'pending_approval';
  // A pending campaign can still spend: its open holds may be confirmed until it is paused.
  const pausable = c.status === 'active' || c.status === 'pending_approval';
  const revocable = c.status !== 'ended' && c.status !== 'revoked';
  return (
    <section class="kill-switch" aria-labelledby="kill-switch-title">
      <h2 id="kill-switch-title" ref={heading} tabIndex={-1}>
        Kill switch
      </h2>
      <p role="status" class="kill-status">
        {done}
      </p>
      {!revocable ? <p>This campaign is {c.status}: nothing is left to stop.</p> : null}
      <div class="kill-actions">
        {pausable ? (
          <ConfirmButton
            label="Pause campaign"
            class="danger big"
            danger
            title="Pause this campaign?"
            description={
              <p>
                New claims and redemptions of <strong>{c.name}</strong>, and confirmations of its open holds, are
                refused from now on. Redemptions already confirmed stay as they are. You can resume later
                {c.status === 'pending_approval' ? ': its change still needs a second key’s approval then' : ''}.
              </p>
            }
            confirm_label="Pause now"
            reason="optional"
            run={(reason) => ok(api.POST('/v1/campaigns/{id}/pause', { ...path, body: { reason } }))}
            after={after('Campaign paused.')}
          />
        ) : null}
        {c.status === 'paused' ? (
          <ConfirmButton
            label="Resume campaign"
            class="primary"
            title="Resume this campaign?"
            description={
              c.needs_approval ? (
                <p>
                  A change to {c.name} awaits approval: resuming sends it to the approval queue, and it takes claims and
                  redemptions again once a second key approves.
                </p>
              ) : (
                <p>Claims and redemptions of {c.name} are accepted again.</p>
              )
            }
            confirm_label="Resume"
            reason="optional"
            run={(reason) => ok(api.POST('/v1/campaigns/{id}/resume', { ...path, body: { reason } }))}
            after={after(c.needs_approval ? 'Campaign resumed into approval.' : 'Campaign resumed.')}
          />
        ) : null}
        {revocable ? (
          <ConfirmButton
            label="Revoke campaign"
            class={live ? 'danger' : 'secondary-danger'}
            danger
            title="Revoke this campaign for good?"
            description={
              <p>
                <strong>{c.name}</strong> ends now: every hold is released and every coupon not yet redeemed is revoked.
                This cannot be undone.
              </p>
            }
            confirm_label="Revoke for good"
            reason="optional"
            run={(reason) => ok(api.POST('/v1/campaigns/{id}/revoke', { ...path, body: { reason } }))}
            after={after('Campaign revoked.')}
          />
        ) : null}
      </div>
    </section>
  );
}
