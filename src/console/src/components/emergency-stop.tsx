import { useState } from 'preact/hooks';
import { ok } from '../api.ts';
import { useApi } from '../context.ts';
import { ConfirmButton } from './confirm-dialog.tsx';

/** The global kill switch: pauses every active or pending campaign at once; a reason is required for the audit log. */
export function EmergencyStop() {
  const api = useApi();
  const [result, setResult] = useState<string | null>(null);
  return (
    <>
      <ConfirmButton
        label="Emergency stop"
        class="emergency"
        danger
        title="Stop every campaign?"
        description={
          <p>
            Every <strong>active</strong> or pending campaign is paused at once: no new claims, redemptions or
            confirmations of open holds anywhere. Each one must be resumed by hand afterwards. The reason goes into the
            audit log.
          </p>
        }
        confirm_label="Stop everything"
        reason="required"
        run={async (reason) => {
          const out = await ok(api.POST('/v1/emergency-stop', { body: { reason: reason ?? '' } }));
          setResult(`Emergency stop: ${out.paused} campaign${out.paused === 1 ? '' : 's'} paused.`);
        }}
      />
      <span class="stop-result" role="status" data-testid="emergency-result">
        {result ?? ''}
      </span>
    </>
  );
}
