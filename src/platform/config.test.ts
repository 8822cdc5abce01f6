import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { getAddress } from 'viem';
import { describe, expect, it } from 'vitest';
import { caught } from '../../test/support/caught.js';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from './config.js';

const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';

const errorOf = (env: Record<string, string>) => caught(() => loadConfig(env, '/srv/clinicpay'), ConfigError);

describe('loadConfig', () => {
  it('runs on embedded defaults with an empty environment', () => {
    const config = loadConfig({}, '/srv/clinicpay');
    expect(config).toMatchObject({
      nodeEnv: 'development',
      host: '127.0.0.1',
      port: 3000,
      databaseUrl: undefined,
      rpcUrl: undefined,
      dataDir: '/srv/clinicpay/.data',
      confirmations: 3,
      bodyLimitBytes: 102400,
    });
  });

  it('defaults to 12 confirmations on an external chain and parses every value it is given', () => {
    const config = loadConfig(
      {
        DATABASE_URL: 'postgres://u:p@db.internal:5432/clinicpay',
        RPC_URL: 'https://rpc.example.org',
        TOKEN_ADDRESS: TOKEN.toLowerCase(),
        FACTORY_ADDRESS: TOKEN,
        RELAYER_PRIVATE_KEY: `0x${'11'.repeat(32)}`,
        PORT: '8080',
        LOG_LEVEL: 'warn',
      },
      '/srv/clinicpay',
    );
    expect(config.confirmations).toBe(12);
    expect(config.databaseMigrationUrl).toBeUndefined();
    expect(config.port).toBe(8080);
    expect(config.tokenAddress).toBe(TOKEN);
    expect(config.logLevel).toBe('warn');
  });

  it.each([
    ['DATABASE_URL', 'not-a-url'],
    ['DATABASE_URL', 'mysql://localhost/db'],
    ['DATABASE_MIGRATION_URL', 'mysql://localhost/db'],
    ['RPC_URL', 'localhost:8545'],
    ['RPC_URL', 'ws://localhost:8545'],
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['NODE_ENV', 'staging'],
    ['LOG_LEVEL', 'verbose'],
    ['CONFIRMATIONS', '0'],
    ['CONFIRMATIONS', '2.5'],
    ['BODY_LIMIT_BYTES', '1e6'],
    ['SHUTDOWN_TIMEOUT_MS', 'soon'],
    ['RPC_TIMEOUT_MS', '5'],
    ['DEV_BLOCK_TIME_SECONDS', '0'],
    ['HOST', 'bad host!'],
    ['USE_FINALIZED_TAG', 'yes'],
    ['RUN_WORKERS', '1'],
    ['PAYMENT_TOLERANCE', '-1'],
    ['WATCHER_START_BLOCK', 'latest'],
    ['FLUSH_BATCH_SIZE', '101'],
    ['ANCHOR_STATEMENTS', 'on'],
    ['PUBLIC_URL', 'pay.example.hk'],
    ['PUBLIC_URL', 'https://pay.example.hk/?x=1'],
    ['REFERENCE_RATES', 'CNY=0.92,EUR=0.11'],
    ['REFERENCE_RATES', 'CNY=0'],
    ['REFERENCE_RATES', 'CNY=0.9,CNY=0.8'],
    ['REFERENCE_RATES_AS_OF', 'yesterday'],
    ['EXPLORER_TX_URL', 'https://etherscan.io/tx/'],
    // Mixed case with a wrong EIP-55 checksum.
    ['TOKEN_ADDRESS', '0x5fbDB2315678afecb367f032d93F642f64180aa3'],
    ['TOKEN_ADDRESS', '0x1234'],
  ])('refuses %s=%s with a message that names the variable', (variable, value) => {
    const env: Record<string, string> = { [variable]: value };
    if (variable === 'TOKEN_ADDRESS') env.RPC_URL = 'http://127.0.0.1:8545';
    const error = errorOf(env);
    expect(error.variable).toBe(variable);
    expect(error.message.startsWith(`${variable} is invalid: expected`)).toBe(true);
  });

  it('reads the token allow-list: each token pinned to its symbol, decimals, issuer and licence, the first pricing invoices', () => {
    const list = [
      { address: TOKEN.toLowerCase(), symbol: 'HKDA', decimals: 6, issuer: 'Issuer A Ltd', licence: 'SC-001', peg: 'HKD' },
      { address: '0x00000000000000000000000000000000000000b2', symbol: 'HKDB', decimals: 18, issuer: 'Issuer B Ltd', licence: 'SC-002', peg: 'HKD' },
    ];
    const config = loadConfig({ ACCEPTED_TOKENS: JSON.stringify(list) }, '/srv');
    expect(config.acceptedTokens).toEqual([
      { ...list[0], address: getAddress(TOKEN) },
      { ...list[1], address: getAddress('0x00000000000000000000000000000000000000b2') },
    ]);
    // The pricing token is the list's first; TOKEN_ADDRESS may repeat it, not contradict it.
    expect(config.tokenAddress).toBe(getAddress(TOKEN));
    expect(loadConfig({ ACCEPTED_TOKENS: JSON.stringify(list), TOKEN_ADDRESS: TOKEN }, '/srv').tokenAddress).toBe(getAddress(TOKEN));
    expect(errorOf({ ACCEPTED_TOKENS: JSON.stringify(list), TOKEN_ADDRESS: '0x00000000000000000000000000000000000000b2' }).variable).toBe('TOKEN_ADDRESS');
  });

  it.each([
    ['not JSON', 'HKDA', /JSON array/],
    ['an empty list', '[]', /JSON array/],
    ['a token pegged to USD', JSON.stringify([{ address: TOKEN, symbol: 'USDX', decimals: 6, issuer: 'X', licence: 'Y', peg: 'USD' }]), /peg/],
    ['a token without its issuer', JSON.stringify([{ address: TOKEN, symbol: 'HKDA', decimals: 6, licence: 'Y', peg: 'HKD' }]), /issuer/],
    ['a token with impossible decimals', JSON.stringify([{ address: TOKEN, symbol: 'HKDA', decimals: 1, issuer: 'X', licence: 'Y', peg: 'HKD' }]), /decimals/],
    ['a field nobody reads', JSON.stringify([{ address: TOKEN, symbol: 'HKDA', decimals: 6, issuer: 'X', licence: 'Y', peg: 'HKD', rate: '1.01' }]), /rate/],
    ['a malformed address', JSON.stringify([{ address: '0x12', symbol: 'HKDA', decimals: 6, issuer: 'X', licence: 'Y', peg: 'HKD' }]), /address/],
    [
      'the same token twice',
      JSON.stringify([
        { address: TOKEN, symbol: 'HKDA', decimals: 6, issuer: 'X', licence: 'Y', peg: 'HKD' },
        { address: TOKEN.toLowerCase(), symbol: 'HKDA', decimals: 6, issuer: 'X', licence: 'Y', peg: 'HKD' },
      ]),
      /once/,
    ],
  ])('refuses an allow-list with %s, saying what is wrong', (_what, value, reason) => {
    const error = errorOf({ ACCEPTED_TOKENS: value });
    expect(error.variable).toBe('ACCEPTED_TOKENS');
    expect(error.message).toMatch(reason);
  });

  it('requires the database, chain and token in production', () => {
    expect(errorOf({ NODE_ENV: 'production' }).variable).toBe('DATABASE_URL');
    // The owner's URL is for migrating the database the gateway uses: alone it names no database to serve from.
    expect(errorOf({ DATABASE_MIGRATION_URL: 'postgres://owner:secret@h/db' })).toMatchObject({ variable: 'DATABASE_MIGRATION_URL' });
    expect(errorOf({ DATABASE_MIGRATION_URL: 'postgres://owner:secret@h/db' }).message).not.toContain('secret');
    expect(errorOf({ NODE_ENV: 'production', DATABASE_URL: 'postgres://h/db' }).variable).toBe('RPC_URL');
    expect(errorOf({ NODE_ENV: 'production', DATABASE_URL: 'postgres://h/db', RPC_URL: 'https://rpc' }).variable).toBe('ACCEPTED_TOKENS');
    expect(errorOf({ NODE_ENV: 'production', DATABASE_URL: 'postgres://h/db', RPC_URL: 'https://rpc', TOKEN_ADDRESS: TOKEN }).variable).toBe('FACTORY_ADDRESS');
    expect(
      errorOf({ NODE_ENV: 'production', DATABASE_URL: 'postgres://h/db', RPC_URL: 'https://rpc', TOKEN_ADDRESS: TOKEN, FACTORY_ADDRESS: TOKEN }).variable,
    ).toBe('JWT_PUBLIC_KEY');
  });

  it('requires SECRETS_KEYS in production, reads several keys in order, and never echoes one', () => {
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const production = { NODE_ENV: 'production', DATABASE_URL: 'postgres://h/db', RPC_URL: 'https://rpc', TOKEN_ADDRESS: TOKEN, FACTORY_ADDRESS: TOKEN };
    expect(errorOf({ ...production, JWT_PUBLIC_KEY: pem }).variable).toBe('SECRETS_KEYS');
    const [k1, k2] = [randomBytes(32), randomBytes(32)];
    const keys = `k2:${k2.toString('base64')},k1:${k1.toString('base64')}`;
    expect(loadConfig({ SECRETS_KEYS: keys }, '/srv').secretKeys).toEqual([
      { id: 'k2', key: k2 },
      { id: 'k1', key: k1 },
    ]);
    expect(loadConfig({}, '/srv').secretKeys).toBeUndefined();
    const short = `k1:${randomBytes(16).toString('base64')}`;
    for (const bad of [short, 'k1', `k1:${k1.toString('base64')},k1:${k2.toString('base64')}`, `bad id:${k1.toString('base64')}`]) {
      const error = errorOf({ SECRETS_KEYS: bad });
      expect(error.variable, bad).toBe('SECRETS_KEYS');
      expect(error.message).toContain('[hidden]');
      expect(error.message).not.toContain(k1.toString('base64').slice(0, 12));
    }
  });

  it('requires PUBLIC_URL in production: checkout links must not point at the listening address', () => {
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const production = {
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://h/db',
      RPC_URL: 'https://rpc',
      TOKEN_ADDRESS: TOKEN,
      FACTORY_ADDRESS: TOKEN,
      RELAYER_PRIVATE_KEY: `0x${'11'.repeat(32)}`,
      JWT_PUBLIC_KEY: pem,
      SECRETS_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    };
    expect(errorOf(production).variable).toBe('PUBLIC_URL');
    expect(loadConfig({ ...production, PUBLIC_URL: 'https://pay.example.org' }, '/srv').publicUrl).toBe('https://pay.example.org');
    expect(loadConfig({}, '/srv').publicUrl).toBeUndefined();
  });

  it('takes a JWKS URL instead of a public key (https in production), not both, and bounds the maximum token age', () => {
    const production = { NODE_ENV: 'production', DATABASE_URL: 'postgres://h/db', RPC_URL: 'https://rpc', TOKEN_ADDRESS: TOKEN, FACTORY_ADDRESS: TOKEN };
    expect(errorOf({ ...production, JWT_JWKS_URL: 'https://idp.example.hk/.well-known/jwks.json' }).variable).toBe('SECRETS_KEYS');
    expect(errorOf({ ...production, JWT_JWKS_URL: 'http://idp.example.hk/jwks' }).variable).toBe('JWT_JWKS_URL');
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expect(errorOf({ JWT_PUBLIC_KEY: pem, JWT_JWKS_URL: 'https://idp.example.hk/jwks' }).variable).toBe('JWT_JWKS_URL');
    expect(loadConfig({ JWT_JWKS_URL: 'http://127.0.0.1:9000/jwks' }, '/srv').jwt).toMatchObject({
      jwksUrl: 'http://127.0.0.1:9000/jwks',
      maxAgeSeconds: 86_400,
    });
    expect(loadConfig({ JWT_MAX_AGE_SECONDS: '3600' }, '/srv').jwt.maxAgeSeconds).toBe(3600);
    for (const bad of ['59', '2592001', 'a day']) expect(errorOf({ JWT_MAX_AGE_SECONDS: bad }).variable).toBe('JWT_MAX_AGE_SECONDS');
  });

  it('reads rate limits (0 turns one off) and which proxies to trust', () => {
    expect(loadConfig({}, '/srv')).toMatchObject({ rateLimits: { publicPerMinute: 300, expensivePerMinute: 30, anchorsPerHour: 10 }, trustProxy: undefined });
    expect(loadConfig({ RATE_LIMIT_PUBLIC_PER_MINUTE: '0', TRUST_PROXY: '2' }, '/srv')).toMatchObject({ rateLimits: { publicPerMinute: 0 }, trustProxy: 2 });
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 192.0.2.10' }, '/srv').trustProxy).toEqual(['10.0.0.0/8', '192.0.2.10']);
    expect(errorOf({ TRUST_PROXY: 'everyone' }).variable).toBe('TRUST_PROXY');
    expect(errorOf({ RATE_LIMIT_EXPENSIVE_PER_MINUTE: '-1' }).variable).toBe('RATE_LIMIT_EXPENSIVE_PER_MINUTE');
  });

  it('reads balances through the canonical Multicall3 unless told another address, or none', () => {
    expect(loadConfig({}, '/srv').multicall3).toBe('0xcA11bde05977b3631167028862bE2a173976CA11');
    expect(loadConfig({ MULTICALL3_ADDRESS: '' }, '/srv').multicall3).toBe('0xcA11bde05977b3631167028862bE2a173976CA11');
    expect(loadConfig({ MULTICALL3_ADDRESS: TOKEN.toLowerCase() }, '/srv').multicall3).toBe(TOKEN);
    expect(loadConfig({ MULTICALL3_ADDRESS: 'none' }, '/srv').multicall3).toBeUndefined();
    expect(loadConfig({ MULTICALL3_ADDRESS: 'NONE' }, '/srv').multicall3).toBeUndefined();
    for (const bad of ['0x1234', 'off', '0x5fbDB2315678afecb367f032d93F642f64180aa3']) {
      expect(errorOf({ MULTICALL3_ADDRESS: bad }).message).toMatch(/^MULTICALL3_ADDRESS is invalid: expected .*, or none/);
    }
  });

  it('requires TOKEN_ADDRESS whenever the chain is external', () => {
    expect(errorOf({ RPC_URL: 'http://127.0.0.1:8545' }).variable).toBe('TOKEN_ADDRESS');
    expect(errorOf({ RPC_URL: 'http://127.0.0.1:8545', TOKEN_ADDRESS: TOKEN, FACTORY_ADDRESS: TOKEN }).variable).toBe('RELAYER_PRIVATE_KEY');
  });

  it('never echoes a private key, even a malformed one', () => {
    const error = errorOf({ RPC_URL: 'http://127.0.0.1:8545', TOKEN_ADDRESS: TOKEN, FACTORY_ADDRESS: TOKEN, RELAYER_PRIVATE_KEY: '0xdeadbeefsecret' });
    expect(error.variable).toBe('RELAYER_PRIVATE_KEY');
    expect(error.message).not.toContain('deadbeef');
  });

  it('never echoes a database password in its message', () => {
    const error = errorOf({ DATABASE_URL: 'mysql://admin:hunter2@db/x' });
    expect(error.message).not.toContain('hunter2');
  });

  it('reads the checkout settings: public URL, reference rates with their source and time, explorer link', () => {
    const config = loadConfig(
      {
        PUBLIC_URL: 'https://pay.example.hk/',
        REFERENCE_RATES: 'CNY=0.9213, USD=0.1285',
        REFERENCE_RATES_SOURCE: 'HKAB indicative',
        REFERENCE_RATES_AS_OF: '2026-11-27T08:00:00Z',
        EXPLORER_TX_URL: 'https://etherscan.io/tx/{tx}',
      },
      '/srv/clinicpay',
    );
    expect(config.publicUrl).toBe('https://pay.example.hk');
    expect(config.referenceRates).toEqual({ rates: { CNY: '0.9213', USD: '0.1285' }, source: 'HKAB indicative', asOf: new Date('2026-11-27T08:00:00Z') });
    expect(config.explorerTxUrl).toBe('https://etherscan.io/tx/{tx}');
    expect(loadConfig({}, '/srv/clinicpay')).toMatchObject({
      publicUrl: undefined,
      referenceRates: undefined,
      explorerTxUrl: undefined,
      anchorStatements: false,
    });
  });

  it('declares every variable it reads, once', () => {
    const declared = CONFIG_VARIABLES.map((variable) => variable.name);
    expect(new Set(declared).size).toBe(declared.length);
    const read = [...fs.readFileSync(new URL('./config.ts', import.meta.url), 'utf8').matchAll(/\(env, '([A-Z][A-Z0-9_]*)'/g)].map((match) => match[1]);
    expect(read.length).toBeGreaterThan(10);
    for (const name of read) expect(declared).toContain(name);
  });
});
