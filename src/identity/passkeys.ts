/**
 * Passkeys (WebAuthn, through `@simplewebauthn/server`): a signed-in person registers one, and
 * the actions that move money or hand out access need a fresh assertion of it (step-up): it
 * proves the person at the keyboard holds the device, not just a session cookie.
 *
 * Challenges live on the session row, are used once, and expire after five minutes. The
 * relying party is this gateway's own origin (PUBLIC_URL): a passkey registered here works
 * nowhere else.
 */
import { createHash } from 'node:crypto';
import {
  type AuthenticationResponseJSON,
  type AuthenticatorTransportFuture,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import { appendAudit } from '../audit/auditLog.js';
import type { Db } from '../platform/db.js';
import { ClinicPayError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { withTransaction } from '../platform/transaction.js';
import { recordStepUp, type SessionRow, sessionActor, setChallenge, takeChallenge } from './sessions.js';

const CHALLENGE_TTL_MS = 5 * 60_000;

export interface RelyingParty {
  /** The origin browsers show (scheme, host, port), e.g. https://pay.example.hk. */
  origin: string;
  /** Its host name: the WebAuthn RP ID. */
  id: string;
  name: string;
}

/** The relying party of a gateway reached at `baseUrl`. */
export function relyingPartyOf(baseUrl: string): RelyingParty {
  const url = new URL(baseUrl);
  return { origin: url.origin, id: url.hostname, name: 'ClinicPay' };
}

export interface PasskeyRow {
  id: string;
  issuer: string;
  sub: string;
  credential_id: string;
  public_key: Buffer;
  counter: string;
  transports: string[];
  name: string;
  created_at: Date;
  last_used_at: Date | null;
}

/** A passkey that did not verify: wrong challenge, origin or signature, an unknown credential, or none registered (400). */
export class PasskeyError extends ClinicPayError {
  override name = 'PasskeyError';
  constructor(message: string, cause?: unknown) {
    super('passkey_failed', message, { cause });
  }
}

function passkeysOf(db: Db, session: SessionRow): Promise<PasskeyRow[]> {
  return db('passkeys').where({ issuer: session.issuer, sub: session.sub }).orderBy('created_at') as Promise<PasskeyRow[]>;
}

/** The person's passkeys, for the page that lists them (no key material). */
export async function listPasskeys(db: Db, session: SessionRow): Promise<{ id: string; name: string; created_at: Date; last_used_at: Date | null }[]> {
  return (await passkeysOf(db, session)).map(({ id, name, created_at, last_used_at }) => ({ id, name, created_at, last_used_at }));
}

/** Options for registering a new passkey; the session keeps the challenge. */
export async function registrationOptions(db: Db, rp: RelyingParty, session: SessionRow): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const existing = await passkeysOf(db, session);
  const options = await generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userName: session.email ?? session.sub,
    userDisplayName: session.name ?? session.email ?? session.sub,
    // A stable handle per person that does not reveal the subject.
    userID: new Uint8Array(createHash('sha256').update(`${session.issuer}\0${session.sub}`).digest()),
    attestationType: 'none',
    excludeCredentials: existing.map((key) => ({ id: key.credential_id, transports: key.transports as AuthenticatorTransportFuture[] })),
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
  });
  await setChallenge(db, session.id, options.challenge, CHALLENGE_TTL_MS);
  return options;
}

/** Verifies a registration and keeps the passkey (audited); a bad one is a {@link PasskeyError}. */
export async function registerPasskey(
  db: Db,
  rp: RelyingParty,
  session: SessionRow,
  response: RegistrationResponseJSON,
  name: string,
  requestId: string | null,
): Promise<PasskeyRow> {
  return withTransaction(db, async (trx) => {
    const challenge = await takeChallenge(trx, session.id);
    if (challenge === undefined) throw new PasskeyError('No registration is in progress, or it took longer than five minutes. Start again.');
    let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
    try {
      verified = await verifyRegistrationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: rp.origin,
        expectedRPID: rp.id,
        requireUserVerification: true,
      });
    } catch (error) {
      throw new PasskeyError('The passkey could not be registered: the browser’s answer did not verify.', error);
    }
    if (!verified.verified) throw new PasskeyError('The passkey could not be registered: the browser’s answer did not verify.');
    const { credential } = verified.registrationInfo;
    const [row] = (await trx('passkeys')
      .insert({
        id: newId('pk'),
        issuer: session.issuer,
        sub: session.sub,
        credential_id: credential.id,
        public_key: Buffer.from(credential.publicKey),
        counter: credential.counter,
        transports: credential.transports ?? [],
        name,
      })
      .onConflict('credential_id')
      .ignore()
      .returning('*')) as PasskeyRow[];
    if (!row) throw new PasskeyError('This passkey is registered already.');
    await appendAudit(trx, sessionActor(session, requestId), [
      { action: 'passkey.registered', target: { type: 'passkey', id: row.id }, clinicId: session.clinic_id, after: { name } },
    ]);
    return row;
  });
}

/** Options for a step-up assertion with one of the person's passkeys; none registered is a {@link PasskeyError}. */
export async function stepUpOptions(db: Db, rp: RelyingParty, session: SessionRow): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const keys = await passkeysOf(db, session);
  if (keys.length === 0) throw new PasskeyError('Register a passkey first: approvals need one.');
  const options = await generateAuthenticationOptions({
    rpID: rp.id,
    allowCredentials: keys.map((key) => ({ id: key.credential_id, transports: key.transports as AuthenticatorTransportFuture[] })),
    userVerification: 'required',
  });
  await setChallenge(db, session.id, options.challenge, CHALLENGE_TTL_MS);
  return options;
}

/**
 * Verifies a step-up assertion against the session's challenge and one of the person's own
 * passkeys, moves its signature counter on, and records the step-up on the session.
 */
export async function stepUp(db: Db, rp: RelyingParty, session: SessionRow, response: AuthenticationResponseJSON): Promise<{ passkeyId: string; at: Date }> {
  return withTransaction(db, async (trx) => {
    const challenge = await takeChallenge(trx, session.id);
    if (challenge === undefined) throw new PasskeyError('No confirmation is in progress, or it took longer than five minutes. Start again.');
    const key = (await trx('passkeys').where({ credential_id: response.id, issuer: session.issuer, sub: session.sub }).forUpdate().first()) as
      | PasskeyRow
      | undefined;
    if (!key) throw new PasskeyError('This passkey is not one of yours.');
    let verified: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
    try {
      verified = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: rp.origin,
        expectedRPID: rp.id,
        credential: {
          id: key.credential_id,
          publicKey: new Uint8Array(key.public_key),
          counter: Number(key.counter),
          transports: key.transports as AuthenticatorTransportFuture[],
        },
        requireUserVerification: true,
      });
    } catch (error) {
      throw new PasskeyError('The passkey’s answer did not verify.', error);
    }
    if (!verified.verified) throw new PasskeyError('The passkey’s answer did not verify.');
    await trx('passkeys').where({ id: key.id }).update({ counter: verified.authenticationInfo.newCounter, last_used_at: trx.fn.now() });
    const at = await recordStepUp(trx, session.id, key.id);
    return { passkeyId: key.id, at };
  });
}
