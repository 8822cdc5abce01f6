/**
 * The console's admin pages. (Being built.)
 */
import { Router } from 'express';
import type { ApiDeps } from './apiDeps.js';

export function consoleAdminRouter(_deps: ApiDeps): Router {
  return Router();
}
