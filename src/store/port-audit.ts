/** The anchor of the platform audit chain, so that deleting its newest entries shows. */
export interface AuditAnchorStore {
  /** The platform chain's head as last written beside its newest entry; null before the first. */
  platformAuditHead(): Promise<{ seq: number; hash: string } | null>;
}
