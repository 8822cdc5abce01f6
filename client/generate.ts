/**
 * Writes `client/src/api.ts` from `openapi.yaml`: one TypeScript type per schema of the contract,
 * and per operation its method, path, parameters, body and answer. The client's hand-written
 * surface (`client/src/resources.ts`) is typed by it, so a change to the contract that the client
 * does not follow fails the type check.
 *
 *     npm run client:generate            # rewrite client/src/api.ts
 *
 * `test/client.test.ts` fails when the file differs from what this would write. No generator
 * from npm is used: they need the TypeScript compiler's JavaScript API, which TypeScript 7 (the
 * project's compiler) does not ship.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

type Schema = Record<string, unknown> & {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: boolean | Schema;
  enum?: unknown[];
  const?: unknown;
  oneOf?: Schema[];
  anyOf?: Schema[];
  allOf?: Schema[];
  description?: string;
};

interface Parameter {
  $ref?: string;
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  description?: string;
  schema?: Schema;
}

interface Operation {
  operationId?: string;
  summary?: string;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema?: Schema }> };
  responses: Record<string, { $ref?: string; content?: Record<string, { schema?: Schema }> }>;
}

interface Document {
  paths: Record<string, Record<string, Operation | Parameter[]>>;
  components: { schemas: Record<string, Schema>; parameters: Record<string, Parameter>; responses: Record<string, unknown> };
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const OPENAPI_FILE = path.join(ROOT, 'openapi.yaml');
export const GENERATED_FILE = path.join(ROOT, 'client', 'src', 'api.ts');
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

/** The contents `client/src/api.ts` should have for this contract. */
export function generateApiTypes(openapiText: string): string {
  const doc = YAML.parse(openapiText) as Document;
  const out: string[] = [
    '// Generated from openapi.yaml by client/generate.ts (`npm run client:generate`). Do not edit:',
    '// change the contract and generate again; a test fails while this file is stale.',
    '/* eslint-disable */',
    '',
  ];

  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    out.push(...comment(schema.description, ''));
    const body = typeOf(schema, '');
    out.push(isObjectLiteral(body) ? `export interface ${name} ${body}` : `export type ${name} = ${body};`, '');
  }

  const operations: { id: string; method: string; path: string; idempotencyKey: boolean; answer: string; types: string }[] = [];
  for (const [route, item] of Object.entries(doc.paths)) {
    const shared = (Array.isArray(item.parameters) ? item.parameters : []).map((one) => resolveParameter(doc, one));
    for (const method of METHODS) {
      const operation = item[method] as Operation | undefined;
      if (!operation?.operationId) continue;
      const parameters = [...shared, ...(operation.parameters ?? []).map((one) => resolveParameter(doc, one))];
      const success = Object.entries(operation.responses).filter(([status]) => /^2/.test(status));
      const contents = success.flatMap(([, response]) => Object.entries(response.content ?? {}));
      // Plain JSON when the operation answers it (a statement's JSON rather than its FHIR Bundle), else a JSON dialect.
      const plain = contents.filter(([type]) => type === 'application/json');
      const json = plain.length > 0 ? plain : contents.filter(([type]) => type.endsWith('+json'));
      const answer =
        json.length > 0 ? 'json' : contents.some(([type]) => /^text\/|yaml|javascript|svg/.test(type)) ? 'text' : contents.length ? 'binary' : 'none';
      const response =
        json.length > 0
          ? union(json.map(([, content]) => (content.schema ? typeOf(content.schema, '      ') : 'unknown')))
          : answer === 'text'
            ? 'string'
            : answer === 'binary'
              ? 'Uint8Array'
              : 'undefined';
      const bodySchema = operation.requestBody?.content['application/json']?.schema;
      const types = [
        `    path: ${parameterObject(parameters.filter((one) => one.in === 'path'))};`,
        `    query: ${parameterObject(parameters.filter((one) => one.in === 'query'))};`,
        `    body: ${bodySchema ? typeOf(bodySchema, '    ') : 'never'};`,
        `    response: ${response};`,
      ];
      operations.push({
        id: operation.operationId,
        method: method.toUpperCase(),
        path: route,
        idempotencyKey: parameters.some((one) => one.in === 'header' && one.name.toLowerCase() === 'idempotency-key'),
        answer,
        types: types.join('\n'),
      });
    }
  }

  out.push('/** Per operation of the contract: its path and query parameters, its JSON body and its answer. */', 'export interface Operations {');
  for (const one of operations) out.push(`  ${one.id}: {`, one.types, '  };');
  out.push('}', '', 'export type OperationId = keyof Operations;', '');
  out.push(
    '/** How each operation is called: method, path template, whether it takes an `Idempotency-Key`, and what its answer is. */',
    'export const OPERATIONS = {',
  );
  for (const one of operations) {
    out.push(
      `  ${one.id}: { method: ${literal(one.method)}, path: ${literal(one.path)}, idempotencyKey: ${one.idempotencyKey}, answer: ${literal(one.answer)} },`,
    );
  }
  out.push(
    "} as const satisfies Record<OperationId, { method: string; path: string; idempotencyKey: boolean; answer: 'json' | 'text' | 'binary' | 'none' }>;",
    '',
  );
  return out.join('\n');
}

function resolveParameter(doc: Document, parameter: Parameter): Parameter {
  if (!parameter.$ref) return parameter;
  const name = parameter.$ref.split('/').pop() as string;
  const resolved = doc.components.parameters[name];
  if (!resolved) throw new Error(`openapi.yaml: no parameter ${parameter.$ref}`);
  return resolved;
}

function parameterObject(parameters: Parameter[]): string {
  if (parameters.length === 0) return 'never';
  const fields = parameters.map(
    (one) =>
      `${comment(one.description, '      ').join('\n')}${one.description ? '\n' : ''}      ${key(one.name)}${one.required ? '' : '?'}: ${one.schema ? typeOf(one.schema, '      ') : 'string'};`,
  );
  return `{\n${fields.join('\n')}\n    }`;
}

/** A TypeScript type for a JSON Schema (the subset openapi.yaml uses), indented by `indent`. */
function typeOf(schema: Schema, indent: string): string {
  if (schema.$ref) return schema.$ref.split('/').pop() as string;
  if ('const' in schema) return literal(schema.const);
  if (schema.enum) return union(schema.enum.map(literal));
  if (schema.oneOf) return union(schema.oneOf.map((one) => typeOf(one, indent)));
  if (schema.anyOf) return union(schema.anyOf.map((one) => typeOf(one, indent)));
  if (schema.allOf) return schema.allOf.map((one) => parenthesise(typeOf(one, indent))).join(' & ');
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  if (types.length === 0) return schema.properties ? objectType(schema, indent) : 'unknown';
  return union(types.map((type) => single(type, schema, indent)));
}

function single(type: string, schema: Schema, indent: string): string {
  switch (type) {
    case 'string':
      return 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array':
      return `${parenthesise(schema.items ? typeOf(schema.items, indent) : 'unknown')}[]`;
    case 'object':
      return objectType(schema, indent);
    default:
      throw new Error(`openapi.yaml: type ${type} is not handled`);
  }
}

function objectType(schema: Schema, indent: string): string {
  const inner = `${indent}  `;
  const required = new Set(schema.required ?? []);
  const lines: string[] = [];
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    lines.push(...comment(property.description, inner), `${inner}${key(name)}${required.has(name) ? '' : '?'}: ${typeOf(property, inner)};`);
  }
  const extra = schema.additionalProperties;
  if (extra && typeof extra === 'object') lines.push(`${inner}[key: string]: ${typeOf(extra, inner)};`);
  else if (extra === undefined && lines.length === 0) return 'Record<string, unknown>';
  if (lines.length === 0) return 'Record<string, never>';
  return `{\n${lines.join('\n')}\n${indent}}`;
}

function comment(text: string | undefined, indent: string): string[] {
  if (!text) return [];
  const lines = text.trim().replaceAll('*/', '*\\/').split('\n');
  return lines.length === 1 ? [`${indent}/** ${lines[0]} */`] : [`${indent}/**`, ...lines.map((line) => `${indent} * ${line}`.trimEnd()), `${indent} */`];
}

function literal(value: unknown): string {
  return value === null ? 'null' : typeof value === 'string' ? `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'` : JSON.stringify(value);
}

function union(types: string[]): string {
  return [...new Set(types)].join(' | ') || 'never';
}

function parenthesise(type: string): string {
  return /^[\w.<>[\]', ]+$/.test(type) && !type.includes(' | ') ? type : `(${type})`;
}

function key(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? name : `'${name}'`;
}

function isObjectLiteral(type: string): boolean {
  return type.startsWith('{\n') && type.endsWith('}');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  fs.writeFileSync(GENERATED_FILE, generateApiTypes(fs.readFileSync(OPENAPI_FILE, 'utf8')));
  console.log(`wrote ${path.relative(ROOT, GENERATED_FILE)}`);
}
