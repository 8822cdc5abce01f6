/**
 * Files that ship with the package, found from the package root whether the code runs from
 * TypeScript sources or from the compiled `dist/`.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'openapi.yaml'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('openapi.yaml not found above the source folder');
    dir = parent;
  }
  return dir;
}

export const PACKAGE_ROOT = findPackageRoot();
export const OPENAPI_PATH = path.join(PACKAGE_ROOT, 'openapi.yaml');
/** Static files of the patient's checkout page (its script and stylesheet). */
export const CHECKOUT_ASSETS_DIR = path.join(PACKAGE_ROOT, 'public', 'checkout');
/** Static files of the staff pages (sign-in, console). */
export const CONSOLE_ASSETS_DIR = path.join(PACKAGE_ROOT, 'public', 'console');
/** The browser half of WebAuthn (`@simplewebauthn/browser`), served from our own origin. */
export const WEBAUTHN_BROWSER_BUNDLE = path.join(
  path.dirname(createRequire(import.meta.url).resolve('@simplewebauthn/browser')),
  '..',
  'dist',
  'bundle',
  'index.umd.min.js',
);
