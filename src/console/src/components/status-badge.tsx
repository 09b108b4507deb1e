import { statusLabel } from '../format.ts';

export function StatusBadge({ status }: { status: string }) {
  return (
    <span class={`badge status-${status}`} data-status={status}>
      {statusLabel[status] ?? status}
    </span>
  );
}
