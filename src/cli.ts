/**
 * `npx clinicpay <command>`: the one command-line entry of the project.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { SYSTEM } from './audit/auditLog.js';
import { clinicSettlementAddresses } from './billing/clinics.js';
import { ScreeningListError } from './compliance/errors.js';
import { LIST_NAME, loadScreeningList, screenAddresses } from './compliance/screening.js';
import { loadOrCreateDevSecrets } from './dev/secrets.js';
import { parseTtl, signHs256Token } from './identity/jwt.js';
import { CLINIC_ROLES, isRole, ROLES } from './identity/principal.js';
import { StartupError, startGateway } from './main.js';
import { type Config, ConfigError, loadConfig } from './platform/config.js';
import { createDb, type Db } from './platform/db.js';
import { isId } from './platform/ids.js';
import { createLogger, errorSummary } from './platform/log.js';
import { prepareDatabase } from './platform/migrate.js';
import { retentionPlan, runRetention } from './retention.js';

const USAGE = `usage: clinicpay <command>

commands:
  start     run the gateway (embedded Postgres and chain unless DATABASE_URL / RPC_URL are set)
  migrate   apply pending database migrations
  token     print a development API token:
              token --role <role> [--clinic <clin_id>] [--sub <subject>] [--ttl 30s|15m|1h|7d]
            roles: platform_admin, clinic_admin, clinic_staff, finance, auditor
  doctor    check a production configuration before going live: one line per check, ok or
            FAIL with what to do; exit status 1 on any FAIL
  deploy    deploy the deposit factory through the deterministic deployment proxy, at the
            same address on every EVM chain (nothing is sent when it is there already):
              deploy --rpc <url> --chain-id <id> [--key-file <file>]
            the key (0x and 64 hex digits) comes from --key-file (mode 600) or RELAYER_PRIVATE_KEY
  verify    check a statement (or one line's proof) without trusting the gateway:
              verify <statement.json | proof.json> [--rpc <url>] [--anchor-from <address>] [--root <hex>]
            offline: the Merkle root, line order and the balance arithmetic; with --rpc: every
            payment line and the anchor on the chain. Exit status 0 only when everything holds.
  screening load a sanctions or designation list the gateway screens addresses against:
              screening load <file> --list <name> [--format ofac|csv]
            OFAC's SDN advanced XML, or CSV with the header address,chain,name,reference; a
            file that does not read is refused whole and the list in force stays
  retention erase personal data older than RETENTION_YEARS (at least 5): travel-rule records
            (their keys destroyed) and patient references in stored webhook payloads; nothing
            financial is deleted:
              retention [--dry-run]
            --dry-run lists exactly what would be erased and changes nothing; every run is audited
  help      show this text

Configuration comes from environment variables; see the README.`;

type Command = (config: Config, args: string[]) => Promise<number | 'running'>;
/** A command that needs none of the gateway's configuration (so it runs anywhere, the production image included). */
type StandaloneCommand = (args: string[]) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  start: runStart,
  doctor: runDoctor,
  token: runToken,
  retention: runRetentionCommand,
};
const STANDALONE: Record<string, StandaloneCommand> = {
  migrate: runMigrate,
  verify: runVerify,
  deploy: runDeploy,
  screening: runScreening,
};

/** A mistake in the command line: printed with the usage, exit status 2. */
class UsageError extends Error {
  override name = 'UsageError';
}

async function runToken(config: Config, args: string[]): Promise<number> {
  let values: { role?: string; clinic?: string; sub?: string; ttl?: string };
  try {
    ({ values } = parseArgs({
      args,
      options: { role: { type: 'string' }, clinic: { type: 'string' }, sub: { type: 'string' }, ttl: { type: 'string' } },
      strict: true,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (config.nodeEnv === 'production') throw new UsageError('token refuses to run in production: issue tokens from your identity provider');
  if (config.jwt.publicKeyPem !== undefined)
    throw new UsageError('JWT_PUBLIC_KEY is set, so the gateway accepts only tokens signed by its private key; token signs HS256 development tokens only');
  if (!isRole(values.role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
  const role = values.role;
  if (values.clinic !== undefined && !isId('clin', values.clinic)) throw new UsageError('--clinic must be a clinic id (clin_ and 24 hex digits)');
  if (CLINIC_ROLES.includes(role) && values.clinic === undefined) throw new UsageError(`--clinic is required for ${role}`);
  if (role === 'platform_admin' && values.clinic !== undefined) throw new UsageError('platform_admin acts across clinics: leave out --clinic');
  let ttlSeconds: number;
  try {
    ttlSeconds = parseTtl(values.ttl ?? '1h');
  } catch (error) {
    throw new UsageError(`--${(error as Error).message}`);
  }
  const secret = config.jwt.secret ?? loadOrCreateDevSecrets(config.dataDir).jwt_secret;
  const token = signHs256Token({
    secret,
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
    role,
    sub: values.sub ?? `dev-${role.replace('_', '-')}`,
    clinicId: values.clinic,
    ttlSeconds,
  });
  process.stdout.write(`${token}\n`);
  return 0;
}

async function runStart(config: Config): Promise<'running'> {
  const logger = createLogger(config.logLevel);
  const gateway = await startGateway({ config, logger, print: (line) => process.stdout.write(`${line}\n`) });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      process.stderr.write(`clinicpay: second ${signal}, exiting without a clean shutdown\n`);
      process.exit(130);
    }
    gateway.shutdown(signal).then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: errorSummary(error) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return 'running';
}

async function runDoctor(config: Config, args: string[]): Promise<number> {
  if (args.length > 0) throw new UsageError('doctor takes no arguments: it checks the configuration in the environment');
  const { doctorChecks, formatChecks } = await import('./doctor.js');
  const results = await doctorChecks(config);
  for (const line of formatChecks(results)) process.stdout.write(`${line}\n`);
  const failed = results.filter((result) => !result.ok).length;
  process.stdout.write(failed === 0 ? `all ${results.length} checks passed\n` : `${failed} of ${results.length} checks failed\n`);
  return failed === 0 ? 0 : 1;
}

async function runDeploy(args: string[]): Promise<number> {
  let values: { rpc?: string; 'chain-id'?: string; 'key-file'?: string };
  try {
    ({ values } = parseArgs({ args, options: { rpc: { type: 'string' }, 'chain-id': { type: 'string' }, 'key-file': { type: 'string' } }, strict: true }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.rpc === undefined || !/^https?:\/\//.test(values.rpc)) throw new UsageError('deploy needs --rpc <http(s) URL of the chain>');
  const chainIdText = values['chain-id'] ?? process.env.CHAIN_ID;
  if (chainIdText === undefined || !/^[1-9][0-9]{0,15}$/.test(chainIdText)) {
    throw new UsageError('deploy needs the chain it is meant for: --chain-id <id> (or CHAIN_ID), so that it never deploys on the wrong one');
  }
  const privateKey = readDeployKey(values['key-file']);
  const { deployFactory } = await import('./deploy.js');
  return deployFactory({ rpcUrl: values.rpc, chainId: Number(chainIdText), privateKey, print: (line) => process.stdout.write(`${line}\n`) });
}

/** The deploying key: from a file only its owner may read, or from RELAYER_PRIVATE_KEY. Never printed. */
function readDeployKey(file: string | undefined): `0x${string}` {
  let text: string;
  if (file !== undefined) {
    let mode: number;
    try {
      mode = fs.statSync(file).mode;
    } catch {
      throw new UsageError(`--key-file ${file} cannot be read`);
    }
    if ((mode & 0o044) !== 0) throw new UsageError(`--key-file ${file} can be read by other users (mode ${(mode & 0o777).toString(8)}); chmod 600 it first`);
    text = fs.readFileSync(file, 'utf8').trim();
  } else {
    text = (process.env.RELAYER_PRIVATE_KEY ?? '').trim();
    if (text === '') throw new UsageError('deploy needs a key: --key-file <file> or RELAYER_PRIVATE_KEY');
  }
  if (!/^0x[0-9a-fA-F]{64}$/.test(text)) throw new UsageError('the key must be 0x and 64 hex digits');
  return text as `0x${string}`;
}

async function runVerify(args: string[]): Promise<number> {
  let parsed: { values: { rpc?: string; 'anchor-from'?: string; root?: string }; positionals: string[] };
  try {
    parsed = parseArgs({
      args,
      options: { rpc: { type: 'string' }, 'anchor-from': { type: 'string' }, root: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const [file, ...extra] = parsed.positionals;
  if (file === undefined || extra.length > 0) throw new UsageError('verify takes one file: a statement (JSON) or a line proof');
  const { root, rpc } = parsed.values;
  const anchorFrom = parsed.values['anchor-from'];
  if (root !== undefined && !/^[0-9a-f]{64}$/.test(root)) throw new UsageError('--root must be 64 lower-case hex digits');
  if (anchorFrom !== undefined && !/^0x[0-9a-fA-F]{40}$/.test(anchorFrom)) throw new UsageError('--anchor-from must be an address (0x and 40 hex digits)');
  let document: unknown;
  try {
    document = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    process.stderr.write(`clinicpay verify: cannot read ${file} as JSON: ${(error as Error).message}\n`);
    return 1;
  }
  const { verifyStatement, verifyLineProof, verifyLinesOnChain, verifyAnchor, mergeReports } = await import('./reports/verifyStatement.js');
  const chain = rpc === undefined ? undefined : (await import('./chain/client.js')).createChainClient({ rpcUrl: rpc, timeoutMs: 30_000 });
  const options = chain ? { chain, anchorFrom } : undefined;
  const kind = (document as { object?: unknown } | null)?.object;
  let report: import('./reports/verifyStatement.js').VerificationReport;
  if (kind === 'statement_line_proof') {
    const proof = document as import('./reports/verifyStatement.js').LineProof;
    const reports = [verifyLineProof(proof, root)];
    const chainId = 'transfer' in proof.leaf && proof.leaf.transfer ? proof.leaf.transfer.chain_id : proof.anchor?.chain_id;
    if (options && chainId !== undefined) reports.push(await verifyLinesOnChain([proof.leaf], chainId, options));
    if (options && proof.anchor) reports.push(await verifyAnchor(proof.anchor, proof.merkle_root, options));
    report = mergeReports(reports);
  } else {
    const statement = document as import('./reports/statementDocument.js').StatementDocument;
    report = await verifyStatement(statement, options);
    if (root !== undefined && statement.merkle_root !== root)
      report = mergeReports([
        report,
        { ok: false, failures: [{ reason: `merkle_root ${statement.merkle_root} is not the expected root ${root}` }], notes: [] },
      ]);
  }
  for (const note of report.notes) process.stdout.write(`ok    ${note}\n`);
  for (const failure of report.failures) process.stdout.write(`FAIL  ${failure.line === undefined ? '' : `line ${failure.line}: `}${failure.reason}\n`);
  process.stdout.write(
    report.ok ? `${file}: verified\n` : `${file}: NOT verified (${report.failures.length} problem${report.failures.length === 1 ? '' : 's'})\n`,
  );
  return report.ok ? 0 : 1;
}

/**
 * With DATABASE_URL set, migrate needs nothing else of the configuration (so it runs as a
 * one-shot job in production with only the database's URLs); without it, the dev stack's database.
 */
/**
 * The database a maintenance command works on: DATABASE_URL (and DATABASE_MIGRATION_URL), or
 * the dev stack's embedded one when they are unset. `done` closes the pool and the stack.
 */
async function commandDatabase(): Promise<{ db: Db; databaseUrl: string; migrationUrl: string | undefined; done(): Promise<void> }> {
  let databaseUrl = process.env.DATABASE_URL;
  let migrationUrl = process.env.DATABASE_MIGRATION_URL;
  let stopDevStack: (() => Promise<void>) | undefined;
  for (const [name, value] of [
    ['DATABASE_URL', databaseUrl],
    ['DATABASE_MIGRATION_URL', migrationUrl],
  ] as const) {
    if (value !== undefined && !/^postgres(ql)?:\/\//.test(value)) throw new ConfigError(name, 'a postgres:// URL', '[hidden]');
  }
  if (databaseUrl === undefined) {
    const config = loadConfig(process.env, process.cwd());
    const { startDevStack } = await import('./dev/stack.js');
    const stack = await startDevStack(config, createLogger(config.logLevel), { withChain: false });
    databaseUrl = stack.databaseUrl;
    migrationUrl = stack.migrationDatabaseUrl;
    stopDevStack = stack.stop;
  }
  const db = createDb({ connectionString: databaseUrl, poolMax: 2 });
  return {
    db,
    databaseUrl,
    migrationUrl,
    async done() {
      await db.destroy();
      await stopDevStack?.();
    },
  };
}

async function runMigrate(args: string[]): Promise<number> {
  if (args.length > 0) throw new UsageError('migrate takes no arguments');
  const database = await commandDatabase();
  try {
    // As the schema owner when DATABASE_MIGRATION_URL is set, which then grants DATABASE_URL's role.
    const applied = await prepareDatabase({ db: database.db, appUrl: database.databaseUrl, migrationUrl: database.migrationUrl });
    process.stdout.write(applied.length === 0 ? 'migrations: up to date\n' : `migrations applied: ${applied.join(', ')}\n`);
    return 0;
  } finally {
    await database.done();
  }
}

/** A list file larger than this is refused before it is read (OFAC's advanced XML is about 100 MB). */
const MAX_SCREENING_FILE_BYTES = 512 * 1024 * 1024;

async function runRetentionCommand(config: Config, args: string[]): Promise<number> {
  let values: { 'dry-run'?: boolean };
  try {
    ({ values } = parseArgs({ args, options: { 'dry-run': { type: 'boolean' } }, strict: true }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const dryRun = values['dry-run'] === true;
  const database = await commandDatabase();
  try {
    const plan = await retentionPlan(database.db, config.retentionYears);
    process.stdout.write(`retention: ${config.retentionYears} years; personal data taken before ${plan.cutoff.toISOString()}\n`);
    for (const item of plan.items) {
      process.stdout.write(
        `${dryRun ? 'would erase' : 'erase'} ${item.kind} ${item.id} clinic ${item.clinic_id}${item.invoice_id ? ` invoice ${item.invoice_id}` : ''} from ${item.at.toISOString()}\n`,
      );
    }
    const { erased } = await runRetention(database.db, SYSTEM.operator, plan, { dryRun });
    process.stdout.write(dryRun ? `${plan.items.length} item(s) would be erased; nothing was changed\n` : `${erased} item(s) erased\n`);
    return 0;
  } finally {
    await database.done();
  }
}

async function runScreening(args: string[]): Promise<number> {
  let parsed: { values: { list?: string; format?: string }; positionals: string[] };
  try {
    parsed = parseArgs({ args, options: { list: { type: 'string' }, format: { type: 'string' } }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const [action, file, ...extra] = parsed.positionals;
  if (action !== 'load' || file === undefined || extra.length > 0) throw new UsageError('screening load <file> --list <name> [--format ofac|csv]');
  const { list, format } = parsed.values;
  if (list === undefined || !LIST_NAME.test(list)) throw new UsageError('--list names the list: lower-case letters, digits, ".", "_" or "-" (e.g. ofac-sdn)');
  if (format !== undefined && format !== 'ofac' && format !== 'csv') throw new UsageError('--format is ofac or csv (by default, from the file)');
  const size = fs.statSync(file).size;
  if (size > MAX_SCREENING_FILE_BYTES) throw new UsageError(`${file} is ${size} bytes; at most ${MAX_SCREENING_FILE_BYTES} are read`);
  const bytes = fs.readFileSync(file);
  const database = await commandDatabase();
  try {
    const version = await loadScreeningList(database.db, SYSTEM.operator, {
      name: list,
      bytes,
      format: format === undefined ? undefined : format === 'ofac' ? 'ofac_sdn_xml' : 'csv',
    });
    process.stdout.write(
      `screening list ${version.name}: version ${version.id} in force, ${version.entry_count} addresses, sha256 ${version.sha256}` +
        `${version.replaced ? ` (replaces ${version.replaced.id}, ${version.replaced.entry_count} addresses)` : ''}\n`,
    );
    // A list that changed is checked against where clinics' money goes now.
    const wallets = await clinicSettlementAddresses(database.db);
    const hits = await screenAddresses(database.db, [...wallets.keys()]);
    for (const hit of hits) {
      for (const clinic of wallets.get(hit.address) ?? []) {
        process.stdout.write(`ATTENTION clinic ${clinic}: its settlement wallet ${hit.address} is on ${hit.list} (${hit.reference ?? 'no reference'})\n`);
      }
    }
    return 0;
  } catch (error) {
    if (error instanceof ScreeningListError) {
      process.stderr.write(`clinicpay screening: ${file} was not loaded, the list in force is unchanged: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    await database.done();
  }
}

/** Runs the command in `argv` (without node and script) and exits with its status. */
export async function main(argv: string[]): Promise<void> {
  const [name = 'help', ...args] = argv;
  if (name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const command = COMMANDS[name];
  const standalone = STANDALONE[name];
  if (!command && !standalone) {
    process.stderr.write(`clinicpay: unknown command "${name}"\n\n${USAGE}\n`);
    process.exit(2);
  }
  try {
    if (standalone) process.exit(await standalone(args));
    let config: Config;
    try {
      config = loadConfig(process.env, process.cwd());
    } catch (error) {
      // doctor reports a configuration that does not parse as its first check, in its own format.
      if (name === 'doctor' && error instanceof ConfigError) {
        process.stdout.write(`FAIL config  ${error.message}\n1 check failed\n`);
        process.exit(1);
      }
      throw error;
    }
    const status = await command!(config, args);
    if (status !== 'running') process.exit(status);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`clinicpay ${name}: ${error.message}\n\n${USAGE}\n`);
      process.exit(2);
    }
    process.stderr.write(`clinicpay: ${describeStartupFailure(error)}\n`);
    process.exit(1);
  }
}

function describeStartupFailure(error: unknown): string {
  if (error instanceof ConfigError) return `configuration error: ${error.message}`;
  if (error instanceof StartupError) return error.message;
  if (!(error instanceof Error)) return `failed: ${String(error)}`;
  const causes: string[] = [];
  let cause: unknown = error.cause;
  while (cause instanceof Error && causes.length < 3) {
    causes.push(cause.message.split('\n')[0]!);
    cause = cause.cause;
  }
  return `failed: ${error.message}${causes.length ? ` (${causes.join('; ')})` : ''}`;
}

await main(process.argv.slice(2));
