import type { ComponentChildren } from 'preact';

/**
 * An error the console shows: red, and role="alert", so a screen reader announces it when it
 * appears (a failed poll, a refused action) instead of leaving it for the user to stumble on.
 * Nothing is rendered while `error` is null. `prefix` says what failed ("Live updates failed:").
 */
export function ErrorText({
  error,
  prefix,
  id,
}: {
  error: string | null | undefined;
  prefix?: ComponentChildren;
  id?: string;
}) {
  if (error === null || error === undefined || error === '') return null;
  return (
    <p id={id} class="error" role="alert">
      {prefix ? <>{prefix} </> : null}
      {error}
    </p>
  );
}
