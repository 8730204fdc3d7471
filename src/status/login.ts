// The status page's login: a form with one password field for the node's token. A valid
// token is kept in an HttpOnly, SameSite=Strict cookie (src/node/access.ts reads it), so
// the page's script never holds it and other sites cannot send it.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { TOKEN_COOKIE } from '../node/access.js';
import type { NodeAppHost } from '../node/apps.js';

/** A form body holds one token: anything longer is not one. */
const MAX_FORM_BYTES = 4096;

export const READ_ONLY_MESSAGE = 'That is a read-only distribution token: the status page needs the node\'s token.';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export function sendHtml(response: ServerResponse, status: number, html: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html), ...headers });
  response.end(html);
}

/** The login page; `message` (escaped) says why the last try failed. */
export function loginPage(message?: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>snapcopy node: log in</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/status/app.css">
</head>
<body class="login">
<main>
<h1>snapcopy node</h1>
<form method="post" action="/login">
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
${message ? `<p class="error" role="alert">${escapeHtml(message)}</p>` : ''}
<button type="submit">Log in</button>
<p class="hint">The node's HTTP token: <code>snapcopy --peers &lt;file&gt; token node</code> prints it.</p>
</form>
</main>
</body>
</html>
`;
}

async function readForm(request: IncomingMessage): Promise<URLSearchParams | undefined> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of request) {
    bytes += (chunk as Buffer).byteLength;
    if (bytes > MAX_FORM_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** POST /login: a valid token sets the cookie and goes to the page; anything else gets the form again (401). */
export async function login(host: NodeAppHost, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const form = await readForm(request).catch(() => undefined);
  const token = form?.get('token')?.trim() ?? '';
  const access = token ? host.checkCredential(token) : undefined;
  if (!access) {
    sendHtml(response, 401, loginPage(token ? 'That token is not valid on this node.' : 'Enter the node\'s token.'));
    return;
  }
  if (access.kind !== 'node') {
    sendHtml(response, 403, loginPage(READ_ONLY_MESSAGE));
    return;
  }
  response.writeHead(303, {
    ...SECURITY_HEADERS,
    location: '/',
    'set-cookie': `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
    'content-length': 0,
  });
  response.end();
}

/** POST /logout: forgets the cookie. */
export function logout(response: ServerResponse): void {
  response.writeHead(303, {
    ...SECURITY_HEADERS,
    location: '/',
    'set-cookie': `${TOKEN_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`,
    'content-length': 0,
  });
  response.end();
}
