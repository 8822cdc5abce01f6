/**
 * Runs after every test file (vitest `setupFiles`): each app the file built must have answered
 * every request with a status its operation declares in openapi.yaml. So the contract lists
 * every status an operation can return, as far as the suite exercises them.
 */
import { afterAll, expect } from 'vitest';

/** What the check needs of an app's contract (src/http/openapi.ts). */
interface RecordingContract {
  undeclaredResponses(): string[];
}

/** The contracts of the apps this test file built (test/support/app.ts adds each). */
export const builtContracts: RecordingContract[] = [];

afterAll(() => {
  const undeclared = [...new Set(builtContracts.flatMap((contract) => contract.undeclaredResponses()))].sort();
  expect(undeclared, 'responses with a status openapi.yaml does not declare for their operation').toEqual([]);
});
