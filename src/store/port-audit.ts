/** The anchor of the platform audit chain, so that deleting its newest entries shows. */
export interface AuditAnchorStore {
  /** The platform chain's head as last written beside its newest entry; null before the first. */
  platformAuditHead(): Promise<{ seq: number; hash: string } | null>;
  /** The head of every chain as its row says (each campaign's row, and the platform head row), read at one moment. */
  auditHeads(): Promise<ChainHeadRef[]>;
}

/** A chain's link: its position in the chain and its hash (what an audit digest records of each chain). */
export interface ChainHeadRef {
  chain: string;
  chain_seq: number;
  hash: string;
}
