import { useState } from 'preact/hooks';
import { count } from './format.ts';
import { type Loaded, usePoll } from './hooks.ts';

/** Pages a list grows to; past them the API (or an item's own address) reaches the rest. */
export const pages_max = 20;

/** A list as the API answers it (API.md: newest first, `has_more`). */
export interface Page<T> {
  data: T[];
  has_more: boolean;
}

/** The newest pages of a list, and how many were asked for. */
export interface Pages<T> extends Page<T> {
  pages: number;
}

/**
 * The newest `pages` pages of a list, each read after the last item of the one before
 * (`starting_after`); read again in full on every poll, so older items stay as fresh as the first.
 */
export async function readPages<T extends { id: string }>(
  read: (starting_after: string | undefined) => Promise<Page<T>>,
  pages: number,
): Promise<Pages<T>> {
  const data: T[] = [];
  for (let n = 0; n < pages; n++) {
    const page = await read(data[data.length - 1]?.id);
    data.push(...page.data);
    // A page is never empty while has_more holds; if one were, asking again would loop.
    if (!page.has_more || page.data.length === 0) return { data, has_more: false, pages };
  }
  return { data, has_more: true, pages };
}

export interface Paged<T> extends Loaded<Pages<T>> {
  /** Pages asked for; the data may still hold fewer while the next one loads. */
  pages: number;
  older: () => void;
}

/** usePoll over the newest pages of a list, one more page each time `older` is called. */
export function usePaged<T extends { id: string }>(
  read: (starting_after: string | undefined) => Promise<Page<T>>,
  interval_ms: number | null,
  deps: unknown[],
): Paged<T> {
  const [pages, setPages] = useState(1);
  const list = usePoll(() => readPages(read, pages), interval_ms, [...deps, pages]);
  return { ...list, pages, older: () => setPages((p) => Math.min(p + 1, pages_max)) };
}

/**
 * The way past the newest pages: a button while there are older items, or past pages_max a line
 * saying the list stops there and where the rest is. Nothing when the list is whole.
 */
export function OlderButton<T extends { id: string }>({
  list,
  label,
  noun,
  rest,
}: {
  list: Paged<T>;
  /** The button's text: "Older incidents". */
  label: string;
  /** What the list holds, plural: "incidents". */
  noun: string;
  /** Where the rest can be read: "GET /v1/incidents". */
  rest: string;
}) {
  const shown = list.data;
  if (shown === null || !shown.has_more) return null;
  if (list.pages >= pages_max && shown.pages >= pages_max) {
    return (
      <p class="hint">
        Showing the newest {count(shown.data.length)} {noun}; {rest} lists the rest.
      </p>
    );
  }
  // aria-disabled, not disabled: a disabled button drops the keyboard focus the user pressed it with.
  const loading = shown.pages < list.pages;
  return (
    <button
      type="button"
      onClick={() => (loading ? undefined : list.older())}
      aria-disabled={loading}
      aria-busy={loading}
    >
      {label}
    </button>
  );
}
