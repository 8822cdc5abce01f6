/**
 * `npx clinicpay <command>`: the one command-line entry of the project.
 */
import { parseArgs } from 'node:util';
import { parseTtl, signHs256Token } from './auth/jwt.js';
import { CLINIC_ROLES, ROLES, isRole } from './auth/roles.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { loadOrCreateDevSecrets } from './dev/secrets.js';
import { isId } from './ids.js';
import { createDb } from './db/knex.js';
import { migrateLatest } from './db/migrate.js';
import { createLogger } from './log.js';
import { StartupError, startGateway } from './main.js';

const USAGE = `usage: clinicpay <command>

commands:
  start     run the gateway (embedded Postgres and chain unless DATABASE_URL / RPC_URL are set)
  migrate   apply pending database migrations
  token     print a development API token:
              token --role <role> [--clinic <clin_id>] [--sub <subject>] [--ttl 30s|15m|1h|7d]
            roles: platform_admin, clinic_admin, clinic_staff, finance, auditor
  help      show this text

Configuration comes from environment variables; see the README.`;

type Command = (config: Config, args: string[]) => Promise<number | 'running'>;

const COMMANDS: Record<string, Command> = {
  start: runStart,
  migrate: runMigrate,
  token: runToken,
};

/** A mistake in the command line: printed with the usage, exit status 2. */
class UsageError extends Error {
  override name = 'UsageError';
}

async function runToken(config: Config, args: string[]): Promise<number> {
  let values: { role?: string; clinic?: string; sub?: string; ttl?: string };
  try {
    ({ values } = parseArgs({ args, options: { role: { type: 'string' }, clinic: { type: 'string' }, sub: { type: 'string' }, ttl: { type: 'string' } }, strict: true }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (config.nodeEnv === 'production') throw new UsageError('token refuses to run in production: issue tokens from your identity provider');
  if (config.jwt.publicKeyPem !== undefined) throw new UsageError('JWT_PUBLIC_KEY is set, so the gateway accepts only tokens signed by its private key; token signs HS256 development tokens only');
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
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return 'running';
}

async function runMigrate(config: Config): Promise<number> {
  const logger = createLogger(config.logLevel);
  let databaseUrl = config.databaseUrl;
  let stopDevStack: (() => Promise<void>) | undefined;
  if (databaseUrl === undefined) {
    const { startDevStack } = await import('./dev/stack.js');
    const stack = await startDevStack(config, logger, { withChain: false });
    databaseUrl = stack.databaseUrl;
    stopDevStack = stack.stop;
  }
  const db = createDb({ connectionString: databaseUrl, poolMax: 2 });
  try {
    const applied = await migrateLatest(db);
    process.stdout.write(applied.length === 0 ? 'migrations: up to date\n' : `migrations applied: ${applied.join(', ')}\n`);
    return 0;
  } finally {
    await db.destroy();
    await stopDevStack?.();
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
  if (!command) {
    process.stderr.write(`clinicpay: unknown command "${name}"\n\n${USAGE}\n`);
    process.exit(2);
  }
  try {
    const config = loadConfig(process.env, process.cwd());
    const status = await command(config, args);
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
