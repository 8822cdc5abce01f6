/**
 * JSON response text. `<`, `>` and `&` are written as \u escapes, so a stored string such as
 * `<script>` can never be read as markup even by a client that sniffs content types; the value
 * a JSON parser reads back is unchanged.
 */
export function toJsonText(value: unknown): string {
  return JSON.stringify(value)
    .replaceAll('<', '\\u003c')
    .replaceAll('>', '\\u003e')
    .replaceAll('&', '\\u0026')
    .replaceAll('\u2028', '\\u2028')
    .replaceAll('\u2029', '\\u2029');
}

/** Sends `value` as `application/json` with the given status. */
export function sendJson(res: import('express').Response, status: number, value: unknown): void {
  res.status(status).type('application/json').send(toJsonText(value));
}
