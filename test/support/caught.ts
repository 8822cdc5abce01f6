/**
 * The error `fn` throws, checked to be an instance of `type`; fails the test when it throws
 * nothing or something else. For assertions on an error's fields (code, param, variable).
 */
export function caught<E extends Error>(fn: () => unknown, type: abstract new (...args: never[]) => E): E {
  try {
    fn();
  } catch (error) {
    if (error instanceof type) return error;
    throw error;
  }
  throw new Error(`expected ${type.name} to be thrown`);
}
