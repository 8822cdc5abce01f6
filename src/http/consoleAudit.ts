/**
 * The console's audit pages. (Being built.)
 */
import { Router } from 'express';
import type { ApiDeps } from './apiDeps.js';

export function consoleAuditRouter(_deps: ApiDeps): Router {
  return Router();
}
