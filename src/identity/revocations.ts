/**
 * Revoked API tokens. A platform administrator revokes one token by its `jti` (a token that
 * leaked), or a subject (`sub`): every token of that person issued up to the revocation (a
 * member of staff who left). Tokens issued afterwards are accepted again, so a subject can be
 * given access back by its identity provider.
 *
 * Every instance keeps the revocations in memory and reloads them at most
 * {@link REVOCATION_REFRESH_MS} after a request finds them stale, so a revocation made on one
 * instance is in force on all of them within that time (at once on the instance that made it).
 * Only revocations that can still matter are loaded: a token older than the maximum age is
 * refused anyway.
 */
import { type AuditActor, appendAudit } from '../audit/auditLog.js';
import type { Db, Trx } from '../platform/db.js';
import { newId } from '../platform/ids.js';
import type { Principal } from './principal.js';

export type RevocationKind = 'jti' | 'sub';

export interface TokenRevocationRow {
  id: string;
  kind: RevocationKind;
  value: string;
  reason: string;
  revoked_by: string;
  created_at: Date;
}

/** How stale the in-memory revocations may be before a request reloads them. */
export const REVOCATION_REFRESH_MS = 2000;

export interface RevokeTokensParameters {
  kind: RevocationKind;
  value: string;
  reason: string;
}

/** Records a revocation, and audits it. */
export async function revokeTokens(trx: Trx, actor: AuditActor, { kind, value, reason }: RevokeTokensParameters): Promise<TokenRevocationRow> {
  const [row] = (await trx('token_revocations')
    .insert({ id: newId('rev'), kind, value, reason, revoked_by: actor.actor })
    .returning('*')) as TokenRevocationRow[];
  await appendAudit(trx, actor, [{ action: 'token.revoked', target: { type: 'token_revocation', id: row!.id }, after: { kind, value, reason } }]);
  return row!;
}

/** The newest revocations first. */
export async function listRevocations(db: Db, limit: number): Promise<TokenRevocationRow[]> {
  return (await db('token_revocations')
    .orderBy([
      { column: 'created_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .limit(limit)) as TokenRevocationRow[];
}

export function presentRevocation(row: TokenRevocationRow): Record<string, unknown> {
  return {
    object: 'token_revocation',
    id: row.id,
    kind: row.kind,
    value: row.value,
    reason: row.reason,
    revoked_by: row.revoked_by,
    created_at: row.created_at.toISOString(),
  };
}

/** The revocations in force, as one instance sees them. */
export class RevocationList {
  private tokenIds = new Set<string>();
  /** Subject → the latest time up to which its tokens are revoked. */
  private subjects = new Map<string, Date>();
  private loadedAt = 0;
  private loading: Promise<void> | undefined;

  constructor(
    private readonly db: Db,
    /** The longest a token is accepted after it was issued: older revocations cannot matter. */
    private readonly maxAgeSeconds: number,
    private readonly refreshMs = REVOCATION_REFRESH_MS,
  ) {}

  /** Whether `principal`'s token is revoked. Reloads first when the list is stale. */
  async isRevoked(principal: Principal): Promise<boolean> {
    if (Date.now() - this.loadedAt >= this.refreshMs) await this.reload();
    if (principal.tokenId !== undefined && this.tokenIds.has(principal.tokenId)) return true;
    const until = this.subjects.get(principal.sub);
    // A token without iat is refused by the verifier; treat one as issued long ago all the same.
    return until !== undefined && (principal.issuedAt ?? new Date(0)) <= until;
  }

  /** Makes the next check reload (after this instance revoked something). */
  invalidate(): void {
    this.loadedAt = 0;
  }

  /** Reloads now; concurrent callers share one load. */
  reload(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const since = new Date(Date.now() - this.maxAgeSeconds * 1000 - 60_000);
        const rows = (await this.db('token_revocations').where('created_at', '>=', since).select('kind', 'value', 'created_at')) as Pick<
          TokenRevocationRow,
          'kind' | 'value' | 'created_at'
        >[];
        this.tokenIds = new Set(rows.filter((row) => row.kind === 'jti').map((row) => row.value));
        const subjects = new Map<string, Date>();
        for (const row of rows) {
          if (row.kind !== 'sub') continue;
          const known = subjects.get(row.value);
          if (!known || known < row.created_at) subjects.set(row.value, row.created_at);
        }
        this.subjects = subjects;
        this.loadedAt = Date.now();
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }
}
