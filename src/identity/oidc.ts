/**
 * ClinicPay as an OpenID Connect relying party (authorization code flow with PKCE, through
 * `openid-client`): any provider that publishes discovery metadata (Microsoft Entra ID, Google
 * Workspace, Keycloak, the dev stack's own) signs people in by issuer URL, client id and secret.
 *
 * The provider's metadata is fetched on first use and kept; a failed fetch is not kept, so a
 * provider that was down is asked again on the next sign-in. What the browser must bring back to
 * finish a sign-in (state, nonce, PKCE verifier, where to go after) travels sealed in a
 * short-lived cookie, not in the database.
 */
import * as oidc from 'openid-client';
import type { OidcConfig } from '../platform/config.js';
import { ClinicPayError } from '../platform/errors.js';
import { CLINIC_ROLES, isRole, type Role } from './principal.js';

/** Issuer, client, scopes and the claims that carry role and clinic, as configured (OIDC_*). */
export type OidcSettings = OidcConfig;

/** What a sign-in in progress must find again at the callback. */
export interface PendingSignIn {
  state: string;
  nonce: string;
  verifier: string;
  /** A path on this gateway to land on afterwards. */
  returnTo: string;
  /** Milliseconds since the epoch after which the callback is refused. */
  expiresAt: number;
}

/** What the identity provider said about the person who signed in. */
export interface ProviderIdentity {
  issuer: string;
  sub: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  /** From the configured claims, when the provider sends them. */
  claimedRole: Role | undefined;
  claimedClinicId: string | null;
  idToken: string;
}

/** The identity provider could not be reached or answered nonsense (503). */
export class IdentityProviderUnavailableError extends ClinicPayError {
  override name = 'IdentityProviderUnavailableError';
  constructor(cause: unknown) {
    super('identity_provider_unavailable', 'The identity provider cannot be reached. Try again in a minute.', { cause });
  }
}

/** A callback that does not finish a sign-in this gateway started: wrong state or nonce, or a token the provider will not give (400). */
export class SignInRefusedError extends ClinicPayError {
  override name = 'SignInRefusedError';
  constructor(message: string, cause?: unknown) {
    super('sign_in_failed', message, { cause });
  }
}

const PENDING_TTL_MS = 10 * 60_000;
const DISCOVERY_TIMEOUT_SECONDS = 5;

export class OidcRelyingParty {
  private configuration: Promise<oidc.Configuration> | undefined;

  constructor(readonly settings: OidcSettings) {}

  /** The provider's metadata: fetched once, fetched again after a failure. */
  private async config(): Promise<oidc.Configuration> {
    if (!this.configuration) {
      const issuer = new URL(this.settings.issuer);
      const insecure = issuer.protocol === 'http:';
      this.configuration = oidc
        .discovery(issuer, this.settings.clientId, { client_secret: this.settings.clientSecret }, oidc.ClientSecretPost(this.settings.clientSecret), {
          timeout: DISCOVERY_TIMEOUT_SECONDS,
          // Only an http:// issuer (the dev stack's) gets plain-HTTP requests; production requires https (config).
          ...(insecure ? { execute: [oidc.allowInsecureRequests] } : {}),
        })
        .then((configuration) => {
          configuration.timeout = DISCOVERY_TIMEOUT_SECONDS;
          return configuration;
        });
      this.configuration.catch(() => {
        this.configuration = undefined;
      });
    }
    try {
      return await this.configuration;
    } catch (error) {
      throw new IdentityProviderUnavailableError(error);
    }
  }

  /** Whether the provider answers its discovery document now. */
  async reachable(): Promise<boolean> {
    try {
      await this.config();
      return true;
    } catch {
      return false;
    }
  }

  /** The provider's sign-in URL for a new sign-in, and what its callback must find again. */
  async start(redirectUri: string, returnTo: string, now = Date.now()): Promise<{ url: URL; pending: PendingSignIn }> {
    const config = await this.config();
    const pending: PendingSignIn = {
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      verifier: oidc.randomPKCECodeVerifier(),
      returnTo,
      expiresAt: now + PENDING_TTL_MS,
    };
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: scopesOf(this.settings.scopes),
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(pending.verifier),
      code_challenge_method: 'S256',
    });
    return { url, pending };
  }

  /**
   * Finishes a sign-in from the callback URL: checks state, exchanges the code with the PKCE
   * verifier, and checks the ID token (issuer, audience, nonce, expiry). Anything off is a
   * {@link SignInRefusedError}; a provider that cannot be reached, {@link IdentityProviderUnavailableError}.
   */
  async finish(callbackUrl: URL, pending: PendingSignIn, now = Date.now()): Promise<ProviderIdentity> {
    if (pending.expiresAt <= now) throw new SignInRefusedError('This sign-in took too long. Start again.');
    const config = await this.config();
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: pending.verifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
    } catch (error) {
      if (isUnreachable(error)) throw new IdentityProviderUnavailableError(error);
      throw new SignInRefusedError('The identity provider did not confirm this sign-in.', error);
    }
    const claims = tokens.claims();
    if (!claims || tokens.id_token === undefined) throw new SignInRefusedError('The identity provider sent no ID token.');
    return identityOf(claims, tokens.id_token, this.settings);
  }

  /** Where to send the browser to sign out at the provider too; undefined when it offers no RP-initiated logout. */
  async logoutUrl(idTokenHint: string | undefined, postLogoutRedirectUri: string): Promise<URL | undefined> {
    let config: oidc.Configuration;
    try {
      config = await this.config();
    } catch {
      return undefined;
    }
    if (!config.serverMetadata().end_session_endpoint) return undefined;
    return oidc.buildEndSessionUrl(config, {
      post_logout_redirect_uri: postLogoutRedirectUri,
      client_id: this.settings.clientId,
      ...(idTokenHint === undefined ? {} : { id_token_hint: idTokenHint }),
    });
  }
}

function scopesOf(scopes: string): string {
  const list = scopes.split(/\s+/).filter(Boolean);
  return (list.includes('openid') ? list : ['openid', ...list]).join(' ');
}

/** A network failure or timeout talking to the provider, as opposed to the provider refusing. */
function isUnreachable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'TimeoutError' || error.name === 'AbortError') return true;
  return error instanceof TypeError && /fetch failed/i.test(error.message);
}

/** The person an ID token names, with the role and clinic its configured claims carry, if any. */
export function identityOf(claims: oidc.IDToken, idToken: string, settings: OidcSettings): ProviderIdentity {
  const text = (value: unknown): string | null => (typeof value === 'string' && value.length > 0 && value.length <= 320 ? value : null);
  const claimedRole = settings.roleClaim === undefined ? undefined : roleFrom(claims[settings.roleClaim]);
  const claimedClinicId = settings.clinicClaim === undefined ? null : text(claims[settings.clinicClaim]);
  return {
    issuer: claims.iss,
    sub: claims.sub,
    email: text(claims.email)?.toLowerCase() ?? null,
    emailVerified: claims.email_verified === true,
    name: text(claims.name),
    claimedRole,
    claimedClinicId,
    idToken,
  };
}

/** A role claim may be one role or a list of them (Entra ID's `roles`): the first ClinicPay role counts. */
function roleFrom(value: unknown): Role | undefined {
  const values = Array.isArray(value) ? value : [value];
  return values.find(isRole);
}

/** Whether a claimed role and clinic go together (clinic roles need a clinic; a platform admin has none). */
export function claimsFit(role: Role, clinicId: string | null): boolean {
  if (CLINIC_ROLES.includes(role)) return clinicId !== null;
  if (role === 'platform_admin') return clinicId === null;
  return true;
}
