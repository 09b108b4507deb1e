import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { messageOf } from '../api.ts';
import { ErrorText } from './error-text.tsx';

export interface ConfirmAction {
  /** The dialog's heading, e.g. "Pause this campaign?". */
  title: string;
  description: ComponentChildren;
  confirm_label: string;
  danger?: boolean;
  /** Ask for a reason: 'required' blocks the confirm button until one is typed. */
  reason?: 'optional' | 'required';
  run: (reason: string | null) => Promise<unknown>;
}

interface DialogProps extends ConfirmAction {
  onClose: (done: boolean) => void;
}

/**
 * A modal confirmation (native <dialog>: focus is trapped inside, Escape cancels and focus
 * returns to the button that opened it). Nothing happens until the confirm button is pressed.
 */
export function ConfirmDialog(props: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);
  const missing = props.reason === 'required' && reason.trim() === '';
  const submit = async (e: Event) => {
    e.preventDefault();
    if (missing || busy) return;
    setBusy(true);
    setError(null);
    try {
      await props.run(reason.trim() === '' ? null : reason.trim());
      ref.current?.close();
      props.onClose(true);
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  };
  return (
    <dialog
      ref={ref}
      class={`confirm${props.danger ? ' danger' : ''}`}
      aria-labelledby={`${id}-title`}
      aria-describedby={`${id}-desc`}
      onClose={() => props.onClose(false)}
    >
      <form method="dialog" onSubmit={submit}>
        <h2 id={`${id}-title`}>{props.title}</h2>
        <div id={`${id}-desc`} class="dialog-body">
          {props.description}
        </div>
        {props.reason ? (
          <div class="field">
            <label for={`${id}-reason`}>Reason{props.reason === 'required' ? ' (required)' : ' (optional)'}</label>
            <textarea
              id={`${id}-reason`}
              rows={2}
              // The API allows 500 characters (code points); maxLength counts UTF-16 units, so twice that.
              maxLength={1000}
              required={props.reason === 'required'}
              value={reason}
              onInput={(e) => setReason(e.currentTarget.value)}
            />
          </div>
        ) : null}
        <ErrorText error={error} />
        <div class="dialog-actions">
          <button type="button" onClick={() => ref.current?.close()} disabled={busy}>
            Cancel
          </button>
          <button type="submit" class={props.danger ? 'danger' : 'primary'} disabled={missing || busy}>
            {busy ? 'Working…' : props.confirm_label}
          </button>
        </div>
      </form>
    </dialog>
  );
}

/** A button that asks first; `after` runs once the action succeeded. */
export function ConfirmButton(
  props: ConfirmAction & { label: string; class?: string; disabled?: boolean; after?: () => void },
) {
  const [open, setOpen] = useState(false);
  const { label, after, disabled, ...action } = props;
  return (
    <>
      <button type="button" class={props.class} disabled={disabled} onClick={() => setOpen(true)}>
        {label}
      </button>
      {open ? (
        <ConfirmDialog
          {...action}
          onClose={(done) => {
            setOpen(false);
            if (done) after?.();
          }}
        />
      ) : null}
    </>
  );
}
