/**
 * FHIR R4 validation for tests: the npm `fhir` validator (R4 definitions, offline) with
 * `errorOnUnexpected`, plus what it does not check by itself — whole-string R4 primitive
 * formats (ids, instants, dates, codes…) and ext-1 (an extension has a value or extensions).
 */
import { Fhir, type ValidatorMessage } from 'fhir';
import { expect } from 'vitest';

const fhir = new Fhir();
const YEAR = '([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)';
const ZONE = '(Z|(\\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))';
const TIME = '([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]+)?';
const PRIMITIVE: Record<string, (value: unknown) => boolean> = {
  id: (v) => typeof v === 'string' && /^[A-Za-z0-9\-.]{1,64}$/.test(v),
  instant: (v) => typeof v === 'string' && new RegExp(`^${YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T${TIME}${ZONE}$`).test(v),
  dateTime: (v) => typeof v === 'string' && new RegExp(`^${YEAR}(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T${TIME}${ZONE})?)?)?$`).test(v),
  date: (v) => typeof v === 'string' && new RegExp(`^${YEAR}(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?$`).test(v),
  decimal: (v) => typeof v === 'number' && Number.isFinite(v),
  unsignedInt: (v) => Number.isInteger(v) && (v as number) >= 0 && (v as number) < 2 ** 31,
  positiveInt: (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) < 2 ** 31,
  code: (v) => typeof v === 'string' && /^[^\s]+( [^\s]+)*$/.test(v),
  uri: (v) => typeof v === 'string' && /^\S*$/.test(v),
  string: (v) => typeof v === 'string' && /^[ \r\n\t\S]+$/.test(v),
  markdown: (v) => typeof v === 'string' && /^[ \r\n\t\S]+$/.test(v),
};

/** Every problem R4 has with `resource`: the package validator's errors and warnings, and the strict checks above. */
export function r4Problems(resource: unknown): ValidatorMessage[] {
  const strict: ValidatorMessage[] = [];
  const result = fhir.validate(resource as object, {
    errorOnUnexpected: true,
    onBeforeValidateProperty: (_resource, property, location, value) => {
      for (const one of Array.isArray(value) ? value : [value]) {
        const check = PRIMITIVE[property._type ?? ''];
        if (check && !check(one)) strict.push({ location, message: `not a valid R4 ${property._type}: ${JSON.stringify(one)}` });
        if (property._type === 'Extension') {
          const valued = Object.keys(one as object).filter((key) => key.startsWith('value')).length;
          const nested = ((one as { extension?: unknown[] }).extension?.length ?? 0) > 0;
          if (valued + (nested ? 1 : 0) !== 1) strict.push({ location, message: 'ext-1: an extension has a value or extensions, not both' });
        }
      }
      return [];
    },
  });
  return [...result.messages.filter((message) => message.severity !== 'info'), ...strict];
}

/** Fails the test unless `resource` is valid R4 (no error or warning, strict checks included). */
export function expectValidR4(resource: unknown): void {
  expect(r4Problems(resource)).toEqual([]);
  expect(fhir.validate(resource as object, { errorOnUnexpected: true }).valid).toBe(true);
}
