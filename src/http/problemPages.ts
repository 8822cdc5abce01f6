/**
 * `GET /problems` and `GET /problems/{code}`: every problem `type` URI the API answers with
 * resolves to a short explanation of what happened and what to do, from the catalogue
 * (platform/problems.ts). Browsers get a page; everyone else JSON.
 */
import { type Request, type Response, Router } from 'express';
import { escapeHtml } from '../platform/html.js';
import { isProblemCode, PROBLEMS, type ProblemCode, problemType } from '../platform/problems.js';
import { sendJson } from './json.js';
import { problemFor, sendProblem, TITLES } from './problem.js';

/** No script, nothing from another origin, no framing: a page of text. */
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function entry(code: ProblemCode): Record<string, unknown> {
  const { status, happened, todo } = PROBLEMS[code];
  return { object: 'problem_type', type: problemType(code), code, status, title: TITLES[status] ?? 'Error', happened, todo };
}

function wantsHtml(req: Request): boolean {
  return req.accepts(['application/json', 'text/html']) === 'text/html';
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · ClinicPay</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; color: #111827; }
code { font: 0.95em ui-monospace, monospace; background: #f3f4f6; padding: 0 0.2em; }
dt { font-weight: 600; margin-top: 1rem; }
dd { margin: 0.25rem 0 0; }
a { color: #1d4ed8; }
</style>
</head>
<body>
${body}
</body>
</html>
`;
}

function sendPage(res: Response, title: string, body: string): void {
  res.setHeader('Content-Security-Policy', PAGE_CSP);
  res.status(200).type('html').send(page(title, body));
}

export function problemPagesRouter(): Router {
  const router = Router();
  const codes = Object.keys(PROBLEMS) as ProblemCode[];

  router.get('/problems', (req, res) => {
    if (!wantsHtml(req)) return sendJson(res, 200, { object: 'list', url: '/problems', data: codes.map(entry), has_more: false });
    const items = codes
      .map(
        (code) =>
          `<li><a href="${escapeHtml(problemType(code))}"><code>${escapeHtml(code)}</code></a> (${PROBLEMS[code].status}): ${escapeHtml(PROBLEMS[code].happened)}</li>`,
      )
      .join('\n');
    sendPage(res, 'Problems', `<h1>Problems the ClinicPay API answers with</h1>\n<ul>\n${items}\n</ul>`);
  });

  router.get('/problems/:code', (req, res) => {
    const code = String(req.params.code);
    if (!isProblemCode(code)) return sendProblem(res, problemFor('not_found', `There is no problem type "${code.slice(0, 64)}"; GET /problems lists them.`));
    if (!wantsHtml(req)) return sendJson(res, 200, entry(code));
    const { status, happened, todo } = PROBLEMS[code];
    sendPage(
      res,
      code,
      `<h1><code>${escapeHtml(code)}</code></h1>
<p>HTTP ${status} ${escapeHtml(TITLES[status] ?? '')}</p>
<dl>
<dt>What happened</dt><dd>${escapeHtml(happened)}</dd>
<dt>What to do</dt><dd>${escapeHtml(todo)}</dd>
</dl>
<p>The response's <code>detail</code> says more about this occurrence, and its <code>request_id</code> finds it in the gateway's logs. <a href="/problems">All problem types</a> · <a href="/docs">API reference</a></p>`,
    );
  });

  return router;
}
