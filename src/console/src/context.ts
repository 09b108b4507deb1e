import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { VouchsafeClient } from './api.ts';

export const ApiContext = createContext<VouchsafeClient | null>(null);

/** Signs the console in with another key at once (after rotating the key it is signed in with). */
export const SwitchKeyContext = createContext<(key: string) => void>(() => undefined);

export function useSwitchKey(): (key: string) => void {
  return useContext(SwitchKeyContext);
}

/** The signed-in client; pages render only inside the signed-in shell. */
export function useApi(): VouchsafeClient {
  const api = useContext(ApiContext);
  if (api === null) throw new Error('useApi outside the signed-in shell');
  return api;
}
