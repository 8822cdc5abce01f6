/**
 * Dev secrets, generated on first start into the git-ignored data directory (mode 0600) and
 * reused after: the embedded Postgres passwords (superuser, schema owner, app role), the dev chain's mnemonic, the dev JWT secret and
 * the dev key that encrypts clinics' webhook secrets.
 * Nothing here is used in production, where every secret comes from the environment.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { english, generateMnemonic } from 'viem/accounts';

export interface DevSecrets {
  /** The embedded cluster's superuser. */
  postgres_password: string;
  /** The role that owns the dev database's schema and runs migrations. */
  postgres_owner_password: string;
  /** The gateway's least-privileged role. */
  postgres_app_password: string;
  mnemonic: string;
  jwt_secret: string;
  /** Base64 of 32 bytes: the key `SECRETS_KEYS` would otherwise give. */
  secrets_key: string;
  /** The dev identity provider's people get passwords derived from this, stable across restarts. */
  people_secret: string;
  /** Signs the dev identity provider's cookies. */
  idp_cookie_key: string;
}

/** Reads `secrets.json` from `dataDir`, creating it (and any missing secret) on first use. */
export function loadOrCreateDevSecrets(dataDir: string): DevSecrets {
  const file = path.join(dataDir, 'secrets.json');
  const existing: Partial<DevSecrets> = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<DevSecrets>) : {};
  const secrets: DevSecrets = {
    postgres_password: existing.postgres_password ?? randomBytes(24).toString('base64url'),
    postgres_owner_password: existing.postgres_owner_password ?? randomBytes(24).toString('base64url'),
    postgres_app_password: existing.postgres_app_password ?? randomBytes(24).toString('base64url'),
    mnemonic: existing.mnemonic ?? generateMnemonic(english),
    jwt_secret: existing.jwt_secret ?? randomBytes(32).toString('base64url'),
    secrets_key: existing.secrets_key ?? randomBytes(32).toString('base64'),
    people_secret: existing.people_secret ?? randomBytes(32).toString('base64url'),
    idp_cookie_key: existing.idp_cookie_key ?? randomBytes(32).toString('base64url'),
  };
  if (JSON.stringify(existing) !== JSON.stringify(secrets)) {
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  }
  return secrets;
}
