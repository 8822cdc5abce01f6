#!/usr/bin/env node
// Runs the TypeScript sources through tsx when it is installed (development), and the
// compiled dist/ otherwise (the production image, which installs no dev dependencies).
let register;
try {
  ({ register } = await import('tsx/esm/api'));
} catch {
  register = undefined;
}
if (register) {
  register();
  await import(new URL('../src/cli.ts', import.meta.url).href);
} else {
  await import(new URL('../dist/src/cli.js', import.meta.url).href);
}
