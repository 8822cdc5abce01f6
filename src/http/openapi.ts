/**
 * The API contract (`openapi.yaml`) as the gatekeeper of every request: routes are declared
 * through it, and each request's path, query and body are validated against the operation's
 * schemas before a handler runs. Unknown body fields and query parameters are refused.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { Request, RequestHandler, Router } from 'express';
import YAML from 'yaml';
import { ValidationError } from '../platform/errors.js';
import { UnsupportedMediaTypeError } from './errors.js';

// ajv-formats is CommonJS with a default export.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

export type HttpMethod = 'get' | 'post' | 'patch' | 'put' | 'delete';
const METHODS: readonly HttpMethod[] = ['get', 'post', 'patch', 'put', 'delete'];

interface ParameterObject {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: Record<string, unknown>;
}

interface OperationObject {
  operationId?: string;
  parameters?: ParameterObject[];
  responses?: Record<string, unknown>;
  requestBody?: { required?: boolean; content?: Record<string, { schema?: unknown }> };
}

interface OpenApiDocument {
  paths: Record<string, Partial<Record<HttpMethod, OperationObject>> & { parameters?: ParameterObject[] }>;
  components?: Record<string, unknown>;
}

export interface ApiOperation {
  method: HttpMethod;
  /** OpenAPI form: `/v1/invoices/{id}`. */
  path: string;
}

/** Validated, type-coerced query parameters of the current request. */
export function validatedQuery(res: { locals: Record<string, unknown> }): Record<string, unknown> {
  return (res.locals.query as Record<string, unknown> | undefined) ?? {};
}

/** The loaded contract: validators per operation and the list of what it declares. */
export class ApiContract {
  private readonly document: OpenApiDocument;
  private readonly bodyAjv: Ajv2020;
  private readonly paramAjv: Ajv2020;
  private readonly declared = new Set<string>();
  private readonly undeclared = new Set<string>();

  constructor(yamlText: string) {
    this.document = YAML.parse(yamlText) as OpenApiDocument;
    const make = (coerceTypes: boolean) => {
      const ajv = new Ajv2020({ strict: false, allErrors: false, verbose: true, coerceTypes });
      addFormats(ajv);
      // The whole document is one schema resource, so `#/components/...` refs resolve.
      ajv.addSchema(this.document as object, 'openapi');
      return ajv;
    };
    this.bodyAjv = make(false);
    this.paramAjv = make(true);
  }

  /** Every operation the document declares. */
  operations(): ApiOperation[] {
    return Object.entries(this.document.paths).flatMap(([path, item]) =>
      METHODS.filter((method) => item[method] !== undefined).map((method) => ({ method, path })),
    );
  }

  /** Operations declared by the contract that no route has been registered for yet. */
  undeclaredRoutes(): ApiOperation[] {
    return this.operations().filter((operation) => !this.declared.has(`${operation.method} ${operation.path}`));
  }

  /**
   * Responses the gateway sent with a status their operation does not declare, as
   * `METHOD path → status`. The test suite fails on any: the contract lists every status an
   * operation can answer with.
   */
  undeclaredResponses(): string[] {
    return [...this.undeclared].sort();
  }

  /**
   * Registers `handlers` for an operation of the contract on `router`, behind its validator.
   * Throws at start-up when the contract does not have the operation.
   */
  route(router: Router, method: HttpMethod, path: string, ...handlers: RequestHandler[]): void {
    const statuses = new Set(Object.keys(this.document.paths[path]?.[method]?.responses ?? {}));
    const recordStatus: RequestHandler = (_req, res, next) => {
      res.once('finish', () => {
        if (!statuses.has(String(res.statusCode))) this.undeclared.add(`${method.toUpperCase()} ${path} → ${res.statusCode}`);
      });
      next();
    };
    router[method](toExpressPath(path), recordStatus, this.validator(method, path), ...handlers);
    this.declared.add(`${method} ${path}`);
  }

  /** The request validator of one operation. */
  validator(method: HttpMethod, path: string): RequestHandler {
    const item = this.document.paths[path];
    const operation = item?.[method];
    if (!item || !operation) throw new Error(`openapi.yaml has no operation ${method.toUpperCase()} ${path}`);
    const parameters = [...(item.parameters ?? []), ...(operation.parameters ?? [])].map((parameter) => this.resolveParameter(parameter));
    const pathValidator = this.compileParameters(parameters, 'path');
    const queryValidator = this.compileParameters(parameters, 'query');
    const jsonSchema = operation.requestBody?.content?.['application/json']?.schema;
    const bodyValidator = jsonSchema === undefined ? undefined : this.bodyAjv.compile(anchorRefs(jsonSchema) as object);
    const bodyRequired = operation.requestBody?.required === true;

    return (req, res, next) => {
      const pathParams = { ...req.params };
      check(pathValidator, pathParams, '');
      const query = { ...(req.query as Record<string, unknown>) };
      refuseMalformedText(query, '');
      check(queryValidator, query, '');
      res.locals.query = query;
      const hasBody = requestHasBody(req);
      if (!bodyValidator) {
        if (hasBody) throw new ValidationError('This operation takes no request body; send none.');
      } else if (hasBody && !req.is('application/json')) {
        throw new UnsupportedMediaTypeError();
      } else if (req.body === undefined) {
        if (bodyRequired) throw new ValidationError('This request needs a JSON body.');
      } else {
        refuseMalformedText(req.body, '');
        check(bodyValidator, req.body, '');
      }
      next();
    };
  }

  /** A parameter given as `$ref: '#/components/parameters/X'` resolved to its definition. */
  private resolveParameter(parameter: ParameterObject & { $ref?: string }): ParameterObject {
    if (parameter.$ref === undefined) return parameter;
    const name = /^#\/components\/parameters\/(.+)$/.exec(parameter.$ref)?.[1];
    const resolved = name === undefined ? undefined : (this.document.components?.parameters as Record<string, ParameterObject> | undefined)?.[name];
    if (!resolved) throw new Error(`openapi.yaml: cannot resolve parameter ${parameter.$ref}`);
    return resolved;
  }

  private compileParameters(parameters: ParameterObject[], location: 'path' | 'query'): ValidateFunction {
    const relevant = parameters.filter((parameter) => parameter.in === location);
    const schema = {
      type: 'object',
      properties: Object.fromEntries(relevant.map((parameter) => [parameter.name, parameter.schema ?? {}])),
      required: relevant.filter((parameter) => parameter.required || location === 'path').map((parameter) => parameter.name),
      additionalProperties: false,
    };
    return this.paramAjv.compile(anchorRefs(schema) as object);
  }
}

/** Rewrites document-local `#/…` refs of a sub-schema so they resolve inside the loaded document. */
function anchorRefs(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(anchorRefs);
  if (schema === null || typeof schema !== 'object') return schema;
  return Object.fromEntries(
    Object.entries(schema).map(([key, value]) => [
      key,
      key === '$ref' && typeof value === 'string' && value.startsWith('#') ? `openapi${value}` : anchorRefs(value),
    ]),
  );
}

function toExpressPath(path: string): string {
  return path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');
}

/** Whether the request carries a body at all (RFC 9112 §6.3: chunked, or a non-zero Content-Length). */
function requestHasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** A NUL character, or a UTF-16 surrogate without its pair: text no database column or JSON document can hold. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding the NUL character is the point.
const MALFORMED_TEXT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** No operation's body nests deeper than a few levels; a deeper one is refused before anything walks it. */
const MAX_BODY_DEPTH = 32;

/**
 * Refuses (400) a request whose strings or keys hold text that is not well formed: a NUL
 * character, or a lone surrogate (`"\ud800"` parses from JSON, but Postgres refuses it);
 * and one nested deeper than {@link MAX_BODY_DEPTH}.
 */
function refuseMalformedText(value: unknown, at: string, depth = 0): void {
  if (depth > MAX_BODY_DEPTH) throw new ValidationError(`The body nests deeper than ${MAX_BODY_DEPTH} levels; no operation takes that.`, at || undefined);
  if (typeof value === 'string') {
    if (MALFORMED_TEXT.test(value))
      throw new ValidationError(`"${at || 'body'}" holds a NUL character or an unpaired surrogate; send well-formed UTF-8 text.`, at || undefined);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [key, item] of Object.entries(value)) {
    const path = Array.isArray(value) ? `${at}[${key}]` : at ? `${at}.${key}` : key;
    if (MALFORMED_TEXT.test(key))
      throw new ValidationError(`A field name in "${at || 'body'}" holds a NUL character or an unpaired surrogate.`, at || undefined);
    refuseMalformedText(item, path, depth + 1);
  }
}

function check(validate: ValidateFunction, data: unknown, prefix: string): void {
  if (validate(data)) return;
  const error = validate.errors?.[0];
  if (!error) throw new ValidationError('The request is not valid.');
  throw toValidationError(error, prefix);
}

/** One ajv error as a problem a person can act on, naming the field in `a.b[0].c` form. */
function toValidationError(error: ErrorObject, prefix: string): ValidationError {
  const at = pointerToParam(error.instancePath, prefix);
  const join = (field: string) => (at ? `${at}.${field}` : field);
  const custom = (error.parentSchema as Record<string, unknown> | undefined)?.['x-message'];
  switch (error.keyword) {
    case 'additionalProperties': {
      const field = join(String(error.params.additionalProperty));
      return new ValidationError(`Unknown field "${field}".`, field);
    }
    case 'required': {
      const field = join(String(error.params.missingProperty));
      return new ValidationError(`Missing required field "${field}".`, field);
    }
    case 'type':
      return new ValidationError(
        `"${at || 'body'}" must be ${article(String(error.params.type))}.${typeof custom === 'string' ? ` ${custom}` : ''}`,
        at || undefined,
      );
    default: {
      const detail = typeof custom === 'string' ? custom : (error.message ?? 'is not valid');
      return new ValidationError(`"${at || 'body'}" ${typeof custom === 'string' ? 'is not valid: ' : ''}${detail}.`.replace(/\.\.$/, '.'), at || undefined);
    }
  }
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function pointerToParam(pointer: string, prefix: string): string {
  const parts = pointer
    .split('/')
    .slice(1)
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'));
  let out = prefix;
  for (const part of parts) out += /^\d+$/.test(part) ? `[${part}]` : out ? `.${part}` : part;
  return out;
}
