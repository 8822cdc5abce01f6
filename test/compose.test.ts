/**
 * compose.yaml cannot be run here (no container engine), so this test reads it. It checks the
 * services an operator relies on: PostgreSQL 17 on a volume with the two roles set up, a
 * one-shot migration job as the schema's owner, two gateway instances as the app role (with
 * every setting production requires, and only settings the gateway knows), a reverse proxy in
 * front of both, health checks throughout, and an `.env.example` naming every variable the file
 * takes from `.env`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONFIG_VARIABLES } from '../src/platform/config.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[]; disable?: boolean };
  profiles?: string[];
  ports?: string[];
}

const compose = parse(read('compose.yaml'), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const { services } = compose;
const KNOWN = new Set(CONFIG_VARIABLES.map((variable) => variable.name));
/** What a production gateway must be given (README: Production). */
const REQUIRED = ['NODE_ENV', 'DATABASE_URL', 'RPC_URL', 'CHAIN_ID', 'ACCEPTED_TOKENS', 'FACTORY_ADDRESS', 'RELAYER_PRIVATE_KEY', 'SECRETS_KEYS', 'PUBLIC_URL'];

describe('compose.yaml', () => {
  it('runs PostgreSQL 17 on a volume, with the two roles made on first start, and a health check', () => {
    const postgres = services.postgres!;
    expect(postgres.image).toBe('postgres:17');
    expect(postgres.volumes).toContain('postgres-data:/var/lib/postgresql/data');
    expect(Object.keys(compose.volumes)).toContain('postgres-data');
    const init = postgres.volumes!.find((volume) => volume.includes('docker-entrypoint-initdb.d'))!;
    const script = init.split(':')[0]!;
    expect(fs.statSync(path.join(ROOT, script)).mode & 0o111).not.toBe(0);
    const sql = read(script);
    for (const statement of [
      'CREATE ROLE clinicpay_owner',
      'CREATE ROLE clinicpay_app',
      'CREATE DATABASE clinicpay OWNER clinicpay_owner',
      'REVOKE CREATE ON SCHEMA public FROM PUBLIC',
    ]) {
      expect(sql).toContain(statement);
    }
    // Passwords travel as psql variables, never spliced into the SQL.
    expect(sql).not.toMatch(/PASSWORD '\$/);
    expect(postgres.healthcheck?.test?.join(' ')).toContain('pg_isready');
  });

  it('migrates once, as the schema owner, before any gateway starts', () => {
    const migrate = services.migrate!;
    expect(migrate.command).toEqual(['node', 'bin/clinicpay.mjs', 'migrate']);
    expect(migrate.environment!.DATABASE_MIGRATION_URL).toMatch(/^postgres:\/\/clinicpay_owner:/);
    expect(migrate.environment!.DATABASE_URL).toMatch(/^postgres:\/\/clinicpay_app:/);
    expect(migrate.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
  });

  it('runs two gateways as the app role, with every production setting and only settings the gateway reads', () => {
    for (const name of ['gateway-1', 'gateway-2']) {
      const gateway = services[name]!;
      const environment = gateway.environment!;
      for (const variable of REQUIRED) expect(environment, `${name} ${variable}`).toHaveProperty(variable);
      expect(environment.JWT_JWKS_URL ?? environment.JWT_PUBLIC_KEY).toBeDefined();
      for (const variable of Object.keys(environment)) expect(KNOWN.has(variable), `${name} sets unknown ${variable}`).toBe(true);
      expect(environment.NODE_ENV).toBe('production');
      expect(environment.DATABASE_URL).toMatch(/^postgres:\/\/clinicpay_app:/);
      expect(environment).not.toHaveProperty('DATABASE_MIGRATION_URL');
      expect(gateway.depends_on).toEqual({ migrate: { condition: 'service_completed_successfully' } });
      expect(gateway.healthcheck?.test?.join(' ')).toContain('/ready');
    }
    for (const variable of Object.keys(services.migrate!.environment!)) expect(KNOWN.has(variable)).toBe(true);
  });

  it('has the operator tools on demand: doctor, and retention as the app role with the retention setting', () => {
    for (const name of ['doctor', 'retention']) expect(services[name]!.profiles, name).toEqual(['tools']);
    const retention = services.retention! as Service & { entrypoint?: string[] };
    expect([...(retention.entrypoint ?? []), ...(retention.command ?? [])]).toEqual(['node', 'bin/clinicpay.mjs', 'retention']);
    expect(retention.environment!.DATABASE_URL).toMatch(/^postgres:\/\/clinicpay_app:/);
    expect(retention.environment!.RETENTION_YEARS).toMatch(/^\$\{RETENTION_YEARS:-5\}$/);
  });

  it('puts a reverse proxy in front of both gateways, waiting for them to be healthy', () => {
    const proxy = services.proxy!;
    expect(proxy.depends_on).toEqual({ 'gateway-1': { condition: 'service_healthy' }, 'gateway-2': { condition: 'service_healthy' } });
    expect(proxy.healthcheck?.test).toBeDefined();
    const caddyfile = read('ops/Caddyfile');
    expect(caddyfile).toMatch(/reverse_proxy gateway-1:3000 gateway-2:3000/);
    expect(caddyfile).toContain('health_uri /ready');
  });

  it('takes every variable it uses from .env, and .env.example names each one', () => {
    const referenced = new Set([...read('compose.yaml').matchAll(/\$\{([A-Z][A-Z0-9_]*)(?::[-?][^}]*)?\}/g)].map((match) => match[1]!));
    const example = new Set([...read('.env.example').matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((match) => match[1]!));
    expect([...referenced].filter((name) => !example.has(name))).toEqual([]);
    expect([...example].filter((name) => !referenced.has(name))).toEqual([]);
    expect(read('.gitignore').split('\n')).toContain('.env');
  });
});
