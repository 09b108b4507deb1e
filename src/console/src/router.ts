import { useEffect, useState } from 'preact/hooks';

/** Every console URL lives under this prefix; the server answers all of them with the shell. */
export const base = '/console';

const changed = new EventTarget();

/** The path after /console ('/' for the campaign list). */
export function currentPath(): string {
  const path = location.pathname.startsWith(base) ? location.pathname.slice(base.length) : '/';
  return path === '' ? '/' : path;
}

export function navigate(path: string, opts: { replace?: boolean } = {}): void {
  const url = `${base}${path === '/' ? '' : path}`;
  if (opts.replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  changed.dispatchEvent(new Event('change'));
}

/** The current path, re-rendering on navigate() and on the browser's back and forward. */
export function usePath(): string {
  const [path, setPath] = useState(currentPath);
  useEffect(() => {
    const update = () => setPath(currentPath());
    window.addEventListener('popstate', update);
    changed.addEventListener('change', update);
    return () => {
      window.removeEventListener('popstate', update);
      changed.removeEventListener('change', update);
    };
  }, []);
  return path;
}

/** The segments of a path matched against a pattern like '/campaigns/:id'; null when it does not match. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split('/').filter(Boolean);
  const got = path.split('/').filter(Boolean);
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] ?? '';
    const g = got[i] ?? '';
    if (w.startsWith(':')) params[w.slice(1)] = decodeURIComponent(g);
    else if (w !== g) return null;
  }
  return params;
}
