// Scripted "system browser" for Castkey tests (use via the `browser` wrapper
// as $BROWSER). Usage: browser <authorization-url>
//
// Drives the oidc-provider devInteractions pages of tests/idp/server.mjs like
// a user would: keeps a cookie jar, follows redirects by hand, submits the
// login form and the consent form, until the provider redirects somewhere
// that is not an http(s) URL on its own origin. Then:
//   - custom scheme (e.g. dev.castkey.app:/callback?code=...):
//       CASTKEY_TEST_BROWSER_HOLD=<file> -> write the URL there (tmp+rename), exit 0
//       otherwise                        -> run `xdg-open <url>`, exit with its status
//   - http loopback (127.0.0.1 / localhost / [::1]): GET it, exit 0 on 2xx
//   - anything else, error pages, unexpected statuses: message on stderr, exit 1
//
// Environment:
//   CASTKEY_TEST_LOGIN        login name to sign in with (default "streamer")
//   CASTKEY_TEST_BROWSER_DENY=1  abort at the consent step (-> error=access_denied)
//   CASTKEY_TEST_BROWSER_HOLD    file to write a custom-scheme redirect URL to
//   CASTKEY_TEST_BROWSER_LOG     file to append the step log to (also on stderr)
//
// The log never contains token or code values: URLs are shown without query
// values, only with their parameter names (error/error_description shown).

import { spawn } from 'node:child_process';
import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const LOGIN = process.env.CASTKEY_TEST_LOGIN || 'streamer';
const DENY = process.env.CASTKEY_TEST_BROWSER_DENY === '1';
const HOLD = process.env.CASTKEY_TEST_BROWSER_HOLD || '';
const LOG_FILE = process.env.CASTKEY_TEST_BROWSER_LOG || '';
const MAX_STEPS = 30;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

function log(msg) {
  const line = `browser: ${msg}`;
  process.stderr.write(`${line}\n`);
  if (LOG_FILE) {
    try {
      appendFileSync(LOG_FILE, `${line}\n`);
    } catch (err) {
      process.stderr.write(`browser: cannot append to CASTKEY_TEST_BROWSER_LOG: ${err.message}\n`);
    }
  }
}

function fail(msg) {
  log(`FAILED: ${msg}`);
  process.exit(1);
}

// URL for logs: no query values except error details.
function show(url) {
  let u;
  try {
    u = new URL(url);
  } catch {
    return '<unparseable url>';
  }
  const base = u.protocol === 'http:' || u.protocol === 'https:'
    ? `${u.origin}${u.pathname}`
    : `${u.protocol}${u.pathname}`;
  const names = [...u.searchParams.keys()];
  if (names.length === 0) return base;
  const parts = names.map((name) => (
    name === 'error' || name === 'error_description'
      ? `${name}=${u.searchParams.get(name)}`
      : name
  ));
  return `${base} [${parts.join(', ')}]`;
}

// --- cookie jar (enough for one origin, honours Path and expiry) ----------

const jar = new Map(); // key `${name}\0${path}` -> { name, value, path, expires }

function storeCookies(response, requestUrl) {
  const lines = response.headers.getSetCookie();
  for (const line of lines) {
    const [pair, ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    let cookiePath = null;
    let expires = null;
    for (const attr of attrs) {
      const [k, ...rest] = attr.split('=');
      const key = k.trim().toLowerCase();
      const val = rest.join('=').trim();
      if (key === 'path') cookiePath = val || '/';
      if (key === 'max-age') expires = Date.now() + Number(val) * 1000;
      if (key === 'expires' && expires === null) expires = Date.parse(val);
    }
    if (!cookiePath) {
      const p = new URL(requestUrl).pathname;
      cookiePath = p.lastIndexOf('/') > 0 ? p.slice(0, p.lastIndexOf('/')) : '/';
    }
    const key = `${name}\0${cookiePath}`;
    if (expires !== null && !Number.isNaN(expires) && expires <= Date.now()) {
      jar.delete(key);
    } else {
      jar.set(key, { name, value, path: cookiePath, expires });
    }
  }
}

function cookieHeader(url) {
  const { pathname } = new URL(url);
  const now = Date.now();
  const matching = [];
  for (const [key, c] of jar) {
    if (c.expires !== null && c.expires <= now) {
      jar.delete(key);
      continue;
    }
    if (pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)) {
      matching.push(c);
    }
  }
  matching.sort((a, b) => b.path.length - a.path.length);
  return matching.map((c) => `${c.name}=${c.value}`).join('; ');
}

async function request(method, url, form) {
  const headers = { accept: 'text/html,application/xhtml+xml' };
  const cookies = cookieHeader(url);
  if (cookies) headers.cookie = cookies;
  let body;
  if (form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(form).toString();
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body, redirect: 'manual' });
  } catch (err) {
    fail(`${method} ${show(url)}: ${err.cause?.message || err.message}`);
  }
  storeCookies(response, url);
  return response;
}

// --- HTML helpers -----------------------------------------------------------

function unescapeHtml(s) {
  return s
    .replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n) => String.fromCharCode(parseInt(n, 16)))
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function parseInteractionPage(html, baseUrl) {
  const prompt = /<input[^>]*name="prompt"[^>]*value="([^"]*)"/i.exec(html)?.[1];
  const action = /<form[^>]*action="([^"]*)"[^>]*method="post"/i.exec(html)?.[1];
  const abort = /<a href="([^"]*)">\[ Cancel \]<\/a>/i.exec(html)?.[1];
  return {
    prompt,
    action: action ? new URL(unescapeHtml(action), baseUrl).href : undefined,
    abort: abort ? new URL(unescapeHtml(abort), baseUrl).href : undefined,
  };
}

function excerpt(body) {
  return body.slice(0, 500);
}

// --- handing the final redirect on -----------------------------------------

async function handOff(url) {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    if (HOLD) {
      const tmp = path.join(path.dirname(HOLD), `.${path.basename(HOLD)}.${process.pid}.tmp`);
      writeFileSync(tmp, url);
      renameSync(tmp, HOLD);
      log(`held ${show(url)} in ${HOLD}`);
      process.exit(0);
    }
    log(`xdg-open ${show(url)}`);
    const child = spawn('xdg-open', [url], { stdio: ['ignore', 'inherit', 'inherit'], env: process.env });
    child.on('error', (err) => fail(`cannot run xdg-open: ${err.message}`));
    child.on('exit', (code, signal) => {
      log(`xdg-open exited with ${signal ? `signal ${signal}` : `status ${code}`}`);
      process.exit(code ?? 1);
    });
    return;
  }

  if (!LOOPBACK_HOSTS.has(u.hostname)) {
    fail(`redirected to a non-loopback http(s) URL outside the provider: ${show(url)}`);
  }

  let current = url;
  for (let i = 0; i < 5; i += 1) {
    log(`GET ${show(current)} (loopback redirect to the app)`);
    let response;
    try {
      response = await fetch(current, { redirect: 'manual' });
    } catch (err) {
      fail(`GET ${show(current)}: ${err.cause?.message || err.message}`);
    }
    const text = await response.text();
    log(`app responded ${response.status}`);
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      const next = new URL(location, current);
      if ((next.protocol === 'http:' || next.protocol === 'https:') && LOOPBACK_HOSTS.has(next.hostname)) {
        current = next.href;
        continue;
      }
      log(`app redirected away to ${show(next.href)}; not following`);
      process.exit(0);
    }
    if (response.status >= 200 && response.status < 300) process.exit(0);
    fail(`app answered ${response.status}: ${excerpt(text)}`);
  }
  fail('too many loopback redirects');
}

// --- main ------------------------------------------------------------------

async function main() {
  const start = process.argv[2];
  if (!start || process.argv.length > 3) {
    process.stderr.write('usage: browser <authorization-url>\n');
    process.exit(2);
  }
  let startUrl;
  try {
    startUrl = new URL(start);
  } catch {
    fail(`not a URL: ${start}`);
  }
  if (startUrl.protocol !== 'http:' && startUrl.protocol !== 'https:') {
    fail(`not an http(s) URL: ${show(start)}`);
  }
  const providerOrigin = startUrl.origin;
  log(`open ${show(start)} (login=${LOGIN}${DENY ? ', will deny consent' : ''})`);

  let method = 'GET';
  let url = startUrl.href;
  let form;

  for (let step = 0; step < MAX_STEPS; step += 1) {
    log(`${method} ${show(url)}`);
    const response = await request(method, url, form);
    const { status } = response;
    method = 'GET';
    form = undefined;

    if (status >= 300 && status < 400) {
      const location = response.headers.get('location');
      await response.arrayBuffer();
      if (!location) fail(`${status} redirect without a Location header`);
      const next = new URL(location, url);
      if ((next.protocol === 'http:' || next.protocol === 'https:') && next.origin === providerOrigin) {
        url = next.href;
        continue;
      }
      log(`provider redirected to ${show(next.href)}`);
      await handOff(next.href);
      return;
    }

    const body = await response.text();
    if (status !== 200) {
      fail(`provider answered ${status} for ${show(url)}: ${excerpt(body)}`);
    }

    // Sign-in with a code (RFC 8628): the code entry and confirmation
    // forms, and the page that says it worked.
    // (A page that posts itself on load, as a browser running its script would.)
    const autoPost = /<title>Submitting Callback<\/title>[\s\S]*?<form method="post" action="([^"]*)">([\s\S]*?)<\/form>/i.exec(body);
    const deviceForm = autoPost
      ? [autoPost[0], 'Auto-post', autoPost[1], autoPost[2]]
      : /<form id="op\.device(Input|Confirm)Form"[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(body);
    if (deviceForm) {
      const fields = {};
      for (const m of deviceForm[3].matchAll(/<input[^>]*?name="([^"]+)"[^>]*?>/gi)) {
        const value = /value="([^"]*)"/i.exec(m[0]);
        fields[m[1]] = value ? unescapeHtml(value[1]) : '';
      }
      if (deviceForm[1] === 'Input' && !fields.user_code) fail('the code entry form has no code filled in');
      log(`device ${deviceForm[1].toLowerCase()} form: continue`);
      method = 'POST';
      url = new URL(unescapeHtml(deviceForm[2]), url).href;
      form = fields;
      continue;
    }
    if (/<title>Sign-in Success<\/title>/i.test(body)) {
      log('device sign-in: success page');
      process.exit(0);
    }

    const page = parseInteractionPage(body, url);
    if (page.prompt === 'login' && page.action) {
      log(`login form: signing in as ${LOGIN}`);
      method = 'POST';
      url = page.action;
      form = { prompt: 'login', login: LOGIN, password: 'any-password' };
      continue;
    }
    if (page.prompt === 'consent' && page.action) {
      if (DENY) {
        if (!page.abort) fail('consent page has no [ Cancel ] (abort) link');
        log('consent form: denying (abort)');
        url = page.abort;
        continue;
      }
      log('consent form: continue');
      method = 'POST';
      url = page.action;
      form = { prompt: 'consent' };
      continue;
    }
    fail(`unexpected page from provider (status ${status}) at ${show(url)}: ${excerpt(body)}`);
  }
  fail(`gave up after ${MAX_STEPS} steps`);
}

await main();
