/**
 * Waits for `work` (which must not reject), but at most `max_ms`: it carries on after that, unawaited.
 * The timer is cleared as soon as the wait ends, so nothing is left to hold the process open.
 */
export async function waitAtMost(work: Promise<unknown>, max_ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, max_ms);
  });
  try {
    await Promise.race([work, waited]);
  } finally {
    clearTimeout(timer);
  }
}
