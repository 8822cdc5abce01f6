/**
 * The layout of `src/` as a rule the code must keep, read from the sources:
 *
 * - every folder has one main file whose opening comment says which tables the folder owns
 *   (`Owns tables:`) and which folders it may import (`May import:`);
 * - every import between folders is one the importing folder declares, and the declared
 *   folders form no loop (so each folder depends only on folders below it);
 * - a folder writes only the tables it owns, and reads only its own tables and those of
 *   folders it may import; the entry points at the top of `src/` read anything and write nothing;
 * - every table the migrations create has exactly one owner;
 * - `docs/architecture.md` lists the same folders, tables and imports.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const SRC = path.join(ROOT, 'src');

function walk(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? walk(path.join(dir, entry.name)) : [path.join(dir, entry.name)]));
}

const sources = walk(SRC).filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'));
const folderOf = (file: string): string | undefined => {
  const parts = path.relative(SRC, file).split(path.sep);
  return parts.length > 1 ? parts[0] : undefined;
};
const folders = [...new Set(sources.map(folderOf).filter((folder): folder is string => folder !== undefined))].sort();

/** Source text without comments (strings kept), so prose about SQL is not read as SQL. */
function code(file: string): string {
  const text = fs.readFileSync(file, 'utf8');
  let out = '';
  let quote: string | undefined;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i]!;
    if (quote) {
      out += char;
      if (char === '\\') out += text[++i] ?? '';
      else if (char === quote) quote = undefined;
    } else if (char === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i += 1;
      out += '\n';
    } else if (char === '/' && text[i + 1] === '*') {
      i = text.indexOf('*/', i + 2) + 1;
    } else {
      if (char === "'" || char === '"' || char === '`') quote = char;
      out += char;
    }
  }
  return out;
}

function list(text: string | undefined): string[] {
  if (text === undefined) return [];
  const items = text
    .replace(/\.$/, '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  return items.length === 1 && items[0] === 'none' ? [] : items.sort();
}

interface FolderHeader {
  main: string;
  owns: string[];
  mayImport: string[];
}

const headers = new Map<string, FolderHeader>();
const headerProblems: string[] = [];
for (const folder of folders) {
  const mains = sources.filter((file) => folderOf(file) === folder && /^ \* May import:/m.test(fs.readFileSync(file, 'utf8')));
  if (mains.length !== 1) {
    headerProblems.push(`${folder}/ has ${mains.length} files with a "May import:" header; it needs exactly one main file`);
    continue;
  }
  const text = fs.readFileSync(mains[0]!, 'utf8');
  headers.set(folder, {
    main: path.relative(ROOT, mains[0]!),
    owns: list(/^ \* Owns tables: (.*)$/m.exec(text)?.[1]),
    mayImport: list(/^ \* May import: (.*)$/m.exec(text)?.[1]),
  });
}

const migrationTables = [
  ...new Set(
    walk(path.join(ROOT, 'migrations')).flatMap((file) =>
      [...fs.readFileSync(file, 'utf8').matchAll(/(?:createTable\('|CREATE TABLE )([a-z_]+)/g)].map((match) => match[1]!),
    ),
  ),
].sort();

function importedFolders(file: string): { folder: string; line: string }[] {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].flatMap((match) => {
    const target = path.resolve(path.dirname(file), match[1]!);
    if (!target.startsWith(SRC + path.sep)) return [];
    const folder = folderOf(target);
    return folder === undefined ? [] : [{ folder, line: match[0] }];
  });
}

const KNEX_CALL = /\b(?:db|trx|knex)\(\s*'([a-z_]+)(?:\s+as\s+\w+)?'\s*\)/g;
const KNEX_JOIN = /\.(?:join|leftJoin|innerJoin|from|into)\(\s*'([a-z_]+)(?:\s+as\s+\w+)?'/g;
const SQL_READ = /\b(?:FROM|JOIN|populate_recordset\(NULL::)\s*([a-z_]+)\b/g;
const SQL_WRITE = /\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?)\s+([a-z_]+)\b/g;
const KNEX_WRITE = /\.(?:insert|update|del|delete|increment|decrement|truncate)\(/;

/** The tables a file reads and writes, by name, as far as its SQL and knex calls show. */
function tableUse(file: string): { reads: Set<string>; writes: Set<string> } {
  const text = code(file);
  const known = new Set(migrationTables);
  const reads = new Set<string>();
  const writes = new Set<string>();
  for (const match of text.matchAll(KNEX_CALL)) {
    if (!known.has(match[1]!)) continue;
    reads.add(match[1]!);
    const statement = text.slice(match.index, text.indexOf(';', match.index));
    if (KNEX_WRITE.test(statement)) writes.add(match[1]!);
  }
  for (const pattern of [KNEX_JOIN, SQL_READ]) for (const match of text.matchAll(pattern)) if (known.has(match[1]!)) reads.add(match[1]!);
  for (const match of text.matchAll(SQL_WRITE)) {
    if (known.has(match[1]!)) {
      reads.add(match[1]!);
      writes.add(match[1]!);
    }
  }
  return { reads, writes };
}

const ownerOf = new Map<string, string>();
for (const [folder, header] of headers) for (const table of header.owns) ownerOf.set(table, folder);

describe('the layout of src/', () => {
  it('gives every folder one main file that says what it owns and may import', () => {
    expect(headerProblems).toEqual([]);
    for (const [folder, header] of headers) {
      for (const other of header.mayImport) expect(folders, `${header.main} may import unknown folder ${other}`).toContain(other);
      expect(header.mayImport, `${folder} lists itself`).not.toContain(folder);
    }
  });

  it('imports across folders only what each folder declares', () => {
    const undeclared: string[] = [];
    for (const file of sources) {
      const folder = folderOf(file);
      if (folder === undefined) continue;
      const allowed = headers.get(folder)?.mayImport ?? [];
      for (const { folder: target, line } of importedFolders(file)) {
        if (target !== folder && !allowed.includes(target)) undeclared.push(`${path.relative(ROOT, file)}: ${line}`);
      }
    }
    expect(undeclared).toEqual([]);
  });

  it('declares no loop between folders, so each depends only on folders below it', () => {
    const loops: string[] = [];
    const visit = (folder: string, trail: string[]) => {
      if (trail.includes(folder)) {
        loops.push([...trail.slice(trail.indexOf(folder)), folder].join(' -> '));
        return;
      }
      for (const next of headers.get(folder)?.mayImport ?? []) visit(next, [...trail, folder]);
    };
    for (const folder of headers.keys()) visit(folder, []);
    expect(loops).toEqual([]);
  });

  it('keeps chain/ off settlement/ and billing/, and reports/ off http/', () => {
    expect(headers.get('chain')?.mayImport).not.toContain('settlement');
    expect(headers.get('chain')?.mayImport).not.toContain('billing');
    expect(headers.get('reports')?.mayImport).not.toContain('http');
  });

  it('gives every table one owner', () => {
    const owned = [...headers.values()].flatMap((header) => header.owns).sort();
    expect(owned).toEqual(migrationTables);
  });

  it('writes each table only from the folder that owns it, and reads only tables below', () => {
    const problems: string[] = [];
    for (const file of sources) {
      const folder = folderOf(file);
      const { reads, writes } = tableUse(file);
      const where = path.relative(ROOT, file);
      for (const table of writes) if (ownerOf.get(table) !== folder) problems.push(`${where} writes ${table}, owned by ${ownerOf.get(table)}/`);
      if (folder === undefined) continue;
      const visible = new Set([folder, ...(headers.get(folder)?.mayImport ?? [])]);
      for (const table of reads)
        if (!visible.has(ownerOf.get(table)!)) problems.push(`${where} reads ${table}, owned by ${ownerOf.get(table)}/ which ${folder}/ may not import`);
    }
    expect(problems).toEqual([]);
  });

  it('lets only audit/ write audited events, nobody append to the chain but the database, and only ledger/ write journal entries and postings', () => {
    const writers = (table: string) => sources.filter((file) => tableUse(file).writes.has(table)).map((file) => folderOf(file) ?? path.basename(file));
    expect(new Set(writers('audit_inbox'))).toEqual(new Set(['audit']));
    // Events reach audit_log only through the owner's audit_chain_pending (migration 0024).
    expect(writers('audit_log')).toEqual([]);
    expect(new Set(writers('journal_entries'))).toEqual(new Set(['ledger']));
    expect(new Set(writers('postings'))).toEqual(new Set(['ledger']));
  });

  it('is described as it is in docs/architecture.md', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs/architecture.md'), 'utf8');
    const rows = new Map(
      [...doc.matchAll(/^\| `([a-z]+)\/` \| [^|]+ \| ([^|]*) \| ([^|]*) \|$/gm)].map((match) => [
        match[1]!,
        { owns: list(match[2]!.replaceAll('`', '').trim() || 'none'), mayImport: list(match[3]!.replaceAll('`', '').trim() || 'none') },
      ]),
    );
    expect([...rows.keys()].sort()).toEqual([...headers.keys()].sort());
    for (const [folder, header] of headers) expect(rows.get(folder), folder).toEqual({ owns: header.owns, mayImport: header.mayImport });
  });
});
