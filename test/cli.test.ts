import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnClinicpay } from './support/gatewayProcess.js';

let dataDir: string;

beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clinicpay-cli-'));
});

afterAll(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function run(args: string[], env: Record<string, string> = {}) {
  const cli = spawnClinicpay(args, { DATA_DIR: dataDir, ...env });
  const code = await cli.exited;
  return { code, output: cli.output() };
}

describe('npx clinicpay token', () => {
  it('prints a token the gateway would accept, signed with the dev secret, with the given role, clinic, subject and ttl', async () => {
    const clinic = 'clin_00112233445566778899aabb';
    const { code, output } = await run(['token', '--role', 'clinic_staff', '--clinic', clinic, '--sub', 'nurse-chan', '--ttl', '15m']);
    expect(code).toBe(0);
    const secret = (JSON.parse(fs.readFileSync(path.join(dataDir, 'secrets.json'), 'utf8')) as { jwt_secret: string }).jwt_secret;
    const claims = jwt.verify(output.trim(), secret, { algorithms: ['HS256'], issuer: 'clinicpay', audience: 'clinicpay-api' }) as jwt.JwtPayload;
    expect(claims).toMatchObject({ role: 'clinic_staff', clinic_id: clinic, sub: 'nurse-chan' });
    expect(claims.exp! - claims.iat!).toBe(900);
  });

  it('tells two finance users apart by subject', async () => {
    const [a, b] = await Promise.all([run(['token', '--role', 'finance', '--sub', 'fin-a']), run(['token', '--role', 'finance', '--sub', 'fin-b'])]);
    expect((jwt.decode(a.output.trim()) as jwt.JwtPayload).sub).toBe('fin-a');
    expect((jwt.decode(b.output.trim()) as jwt.JwtPayload).sub).toBe('fin-b');
  });

  it.each([
    [['token'], '--role must be one of'],
    [['token', '--role', 'root'], '--role must be one of'],
    [['token', '--role', 'clinic_admin'], '--clinic is required'],
    [['token', '--role', 'platform_admin', '--clinic', 'clin_00112233445566778899aabb'], 'leave out --clinic'],
    [['token', '--role', 'finance', '--clinic', 'clinic-1'], '--clinic must be a clinic id'],
    [['token', '--role', 'finance', '--ttl', '1y'], 'ttl must look like'],
    [['token', '--role', 'finance', '--bogus'], 'Unknown option'],
  ])('refuses %j with a usage error', async (args, message) => {
    const { code, output } = await run(args);
    expect(code).toBe(2);
    expect(output).toContain(message);
  });

  it('refuses in production', async () => {
    const { code, output } = await run(['token', '--role', 'finance'], {
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://db.internal/clinicpay',
      RPC_URL: 'https://rpc.internal',
      TOKEN_ADDRESS: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
      FACTORY_ADDRESS: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
      RELAYER_PRIVATE_KEY: `0x${'42'.repeat(32)}`,
      JWT_PUBLIC_KEY: fs.readFileSync(new URL('./fixtures/jwt-public.pem', import.meta.url), 'utf8'),
      SECRETS_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
      PUBLIC_URL: 'https://pay.example.org',
    });
    expect(code).toBe(2);
    expect(output).toContain('refuses to run in production');
  });
});

describe('commands that need none of the gateway configuration', () => {
  it('verify and deploy run in production with nothing else set (as inside the image)', async () => {
    const statement = path.join(dataDir, 'missing-statement.json');
    const verify = await run(['verify', statement], { NODE_ENV: 'production' });
    expect(verify.code).toBe(1);
    expect(verify.output).toContain(`cannot read ${statement} as JSON`);
    expect(verify.output).not.toContain('configuration error');
    const deploy = await run(['deploy'], { NODE_ENV: 'production' });
    expect(deploy.code).toBe(2);
    expect(deploy.output).toContain('deploy needs --rpc');
    expect(deploy.output).not.toContain('configuration error');
  });

  it('doctor reports a configuration that does not parse as its first FAIL line', async () => {
    const doctor = await run(['doctor'], { NODE_ENV: 'production' });
    expect(doctor.code).toBe(1);
    expect(doctor.output).toMatch(/^FAIL config {2}DATABASE_URL is/m);
  });
});
