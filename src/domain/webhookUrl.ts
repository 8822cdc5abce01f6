/**
 * Where a clinic's webhooks may go: an absolute http(s) URL with a host, a port in range, no
 * credentials, and (where the operator requires it) https; never an address inside the
 * gateway's own network (loopback, private, link-local, unique-local or any other non-public
 * range), unless the operator allows it. The dispatcher checks the same rule again at connect
 * time, after DNS, so a name that resolves inward is refused too (webhooks/dispatcher.ts).
 */
import ipaddr from 'ipaddr.js';
import { ValidationError } from '../platform/errors.js';

export interface WebhookUrlRules {
  /** Refuse plain http (production). */
  requireHttps: boolean;
  /** Addresses or CIDR ranges that may be called although they are not public (development receivers). */
  allowedNetworks: readonly string[];
}

/** Whether `address` (an IP literal) is public, or inside one of `allowed`. */
export function isCallableAddress(address: string, allowed: readonly string[]): boolean {
  if (!ipaddr.isValid(address)) return false;
  const ip = ipaddr.process(address);
  if (ip.range() === 'unicast') return true;
  return allowed.some((network) => {
    const [base, bits] = network.includes('/') ? ipaddr.parseCIDR(network) : [ipaddr.process(network), ipaddr.process(network).kind() === 'ipv4' ? 32 : 128];
    return base.kind() === ip.kind() && ip.match(base, bits);
  });
}

/**
 * The URL as stored, or a {@link ValidationError} naming `param` and what is wrong.
 *
 * @example
 * parseWebhookUrl('https://clinic.example.hk/hooks', 'webhook_url', { requireHttps: true, allowedNetworks: [] }) // 'https://clinic.example.hk/hooks'
 */
export function parseWebhookUrl(value: string, param: string, rules: WebhookUrlRules): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ValidationError(`"${param}" is not an absolute URL with a host and a port from 1 to 65535.`, param);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && !rules.requireHttps)) {
    throw new ValidationError(`"${param}" must be an ${rules.requireHttps ? 'https' : 'http(s)'} URL.`, param);
  }
  if (url.hostname === '') throw new ValidationError(`"${param}" has no host.`, param);
  if (url.username !== '' || url.password !== '')
    throw new ValidationError(`"${param}" must not carry credentials; authenticate the gateway by its signature instead.`, param);
  // An IP literal (IPv6 without its brackets), or `localhost`, which is loopback by definition (RFC 6761).
  const host = /^(.*\.)?localhost\.?$/i.test(url.hostname) ? '127.0.0.1' : url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (ipaddr.isValid(host) && !isCallableAddress(host, rules.allowedNetworks)) {
    throw new ValidationError(`"${param}" points inside the gateway's own network (loopback, private or link-local); use a public address.`, param);
  }
  return url.toString();
}
