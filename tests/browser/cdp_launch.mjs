// SPDX-License-Identifier: MIT
//
// Drives headless Chromium over the DevTools protocol (--remote-debugging-pipe,
// no npm packages) through one launch from the simulated course page, and
// prints one JSON object: the course page's storage log, what the tool's
// frame showed last, and the screenshot path.
//
// Usage: node cdp_launch.mjs '{"chromium":"/usr/bin/chromium","profile":DIR,
//   "block3pc":true,"url":URL,"screenshot":FILE,"timeoutMs":30000}'
// Optional: "blockCookiesFor":ORIGIN blocks every cookie of that origin,
// partitioned ones included (the site setting "not allowed to save data");
// "then":"follow-link" clicks the landing page's first player link and waits
// for the player; "then":"pick" chooses the first entry in the deep-linking
// picker and waits for the platform's answer ("actionShot" is a screenshot
// taken just before the click). "requests" in the output lists the tool
// frame's requests and whether each carried a Cookie header.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const opts = JSON.parse(process.argv[2]);
const deadline = Date.now() + (opts.timeoutMs || 30000);

mkdirSync(join(opts.profile, 'Default'), { recursive: true });
// The setting "Third-party cookies" (chrome://settings/cookies): 0 allows
// them, 1 blocks them. Written either way, as the default differs between
// Chromium releases.
const profilePrefs = { cookie_controls_mode: opts.block3pc ? 1 : 0,
  block_third_party_cookies: !!opts.block3pc };
if (opts.blockCookiesFor) {
  // 2 = block. The pattern pair is (site of the cookie, top-level site).
  profilePrefs.content_settings = { exceptions: { cookies: {
    [`${opts.blockCookiesFor},*`]: { setting: 2 } } } };
}
writeFileSync(join(opts.profile, 'Default', 'Preferences'),
  JSON.stringify({ profile: profilePrefs }));
const args = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-default-apps', '--disable-extensions', '--no-default-browser-check',
  '--disable-features=Translate,OptimizationHints,MediaRouter',
  '--remote-debugging-pipe', `--user-data-dir=${opts.profile}`, '--window-size=1000,800',
  // Hosts other than localhost and 127.0.0.1 fail to resolve, so pages that name
  // other hosts (the catalog's thumbnails) cause no network traffic.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
];
if (opts.block3pc) args.push('--test-third-party-cookie-phaseout');
args.push('about:blank');

const child = spawn(opts.chromium, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
let stderr = '';
child.stderr.on('data', (d) => { if (stderr.length < 20000) stderr += d; });
const out = child.stdio[3];
const inp = child.stdio[4];

let nextId = 1;
const pending = new Map();
const frames = new Map(); // sessionId -> targetInfo of attached iframes
const requests = new Map(); // requestId -> { url, cookie }
let buf = Buffer.alloc(0);
inp.on('data', (chunk) => {
  buf = Buffer.concat([buf, chunk]);
  let i;
  while ((i = buf.indexOf(0)) >= 0) {
    const msg = JSON.parse(buf.subarray(0, i).toString('utf8'));
    buf = buf.subarray(i + 1);
    if (msg.id && pending.has(msg.id)) {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) p.reject(new Error(msg.error.message)); else p.resolve(msg.result);
    } else if (msg.method === 'Target.attachedToTarget') {
      const s = msg.params.sessionId;
      frames.set(s, msg.params.targetInfo);
      send('Network.enable', {}, s).catch(() => {});
      send('Runtime.runIfWaitingForDebugger', {}, s).catch(() => {});
      send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false,
        flatten: true }, s).catch(() => {});
    } else if (msg.method === 'Network.requestWillBeSent') {
      const r = requests.get(msg.params.requestId) || { cookie: null };
      r.url = msg.params.request.url;
      requests.set(msg.params.requestId, r);
    } else if (msg.method === 'Network.requestWillBeSentExtraInfo') {
      // The headers as sent, Cookie included, which requestWillBeSent omits.
      const r = requests.get(msg.params.requestId) || { url: null };
      r.cookie = Object.keys(msg.params.headers || {}).some((h) => h.toLowerCase() === 'cookie');
      requests.set(msg.params.requestId, r);
    } else if (msg.method === 'Target.detachedFromTarget') {
      frames.delete(msg.params.sessionId);
    }
  }
});

function send(method, params = {}, sessionId) {
  const id = nextId++;
  const msg = { id, method, params };
  if (sessionId) msg.sessionId = sessionId;
  out.write(JSON.stringify(msg) + '\0');
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    setTimeout(() => {
      if (pending.delete(id)) reject(new Error(`${method} timed out`));
    }, 10000);
  });
}

async function evaluate(expr, sessionId) {
  const r = await send('Runtime.evaluate', { expression: expr, returnByValue: true }, sessionId);
  return r.result ? r.result.value : undefined;
}

const probe = `JSON.stringify({
  url: location.href, title: document.title,
  user: (document.getElementById('user-id') || {}).textContent || null,
  newWindow: !!(document.getElementById('lti-new-window') &&
                !document.getElementById('lti-new-window').hidden),
  storageFailed: !!(document.getElementById('lti-storage-failed') &&
                    !document.getElementById('lti-storage-failed').hidden),
  entry: (document.getElementById('entry-title') || {}).textContent || null,
  picker: !!document.getElementById('picker'),
  body: document.body ? document.body.innerText.slice(0, 2000) : null,
  reason: (document.querySelector('.code code') || {}).textContent || null })`;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Runs in the tool's frame: the first action of `then`.
const actions = {
  'follow-link': `(function () {
    var a = document.querySelector('a[href*="/hosted/player"]');
    if (!a) return false;
    a.click();
    return true; })()`,
  pick: `(function () {
    var e = document.querySelector('#picker input[name=entry]');
    var b = document.querySelector('#picker button[value=choose]');
    if (!e || !b) return false;
    e.checked = true;
    b.click();
    return true; })()`,
};

// Whether the page after the action has loaded.
function finished(t) {
  if (opts.then === 'follow-link') return !!(t.entry && t.user);
  return t.url.includes('/deep_linking_response');
}

async function main() {
  const result = { log: [], tool: null, screenshot: null, error: null, acted: false };
  let toolSession = null;
  try {
    const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
    await send('Page.enable', {}, sessionId);
    await send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false,
      flatten: true }, sessionId);
    await send('Page.navigate', { url: opts.url }, sessionId);
    let settledAt = 0;
    while (Date.now() < deadline) {
      await sleep(250);
      result.log = JSON.parse((await evaluate('JSON.stringify(window.simLog || [])',
        sessionId).catch(() => '[]')) || '[]');
      for (const [s, info] of frames) {
        if (info.type !== 'iframe') continue;
        const v = await evaluate(probe, s).catch(() => null);
        if (!v) continue;
        const st = JSON.parse(v);
        if (st.url.includes('/sim/post_message_forwarding') ||
            st.url.includes('/sim/storage_forger')) continue;
        result.tool = st;
        toolSession = s;
      }
      const t = result.tool;
      const ready = t && (opts.then === 'pick' ? t.picker
        : t.user && result.log.some((e) => e.startsWith('resize:')));
      if (ready && opts.then && !result.acted) {
        if (opts.actionShot) {
          const shot = await send('Page.captureScreenshot', { format: 'png' }, sessionId);
          writeFileSync(opts.actionShot, Buffer.from(shot.data, 'base64'));
        }
        result.acted = !!(await evaluate(actions[opts.then], toolSession).catch(() => false));
        continue;
      }
      const landed = opts.then ? result.acted && t && finished(t) : ready;
      const stopped = t && (t.newWindow || t.storageFailed || t.reason);
      if (landed || stopped) {
        // Let late messages (a forged answer, a second resize) arrive.
        if (!settledAt) settledAt = Date.now();
        if (Date.now() - settledAt > 700) break;
      }
    }
    if (opts.screenshot) {
      const shot = await send('Page.captureScreenshot', { format: 'png' }, sessionId);
      writeFileSync(opts.screenshot, Buffer.from(shot.data, 'base64'));
      result.screenshot = opts.screenshot;
    }
  } catch (e) {
    result.error = String(e && e.message ? e.message : e);
  }
  result.requests = [...requests.values()].filter((r) => r.url && !r.url.startsWith('data:'));
  if (!result.tool && !result.error) result.chromiumStderr = stderr.slice(-2000);
  process.stdout.write(JSON.stringify(result) + '\n');
  await send('Browser.close').catch(() => {});
  setTimeout(() => { child.kill('SIGKILL'); process.exit(0); }, 2000).unref();
  child.on('exit', () => process.exit(0));
}

child.on('error', (e) => {
  process.stdout.write(JSON.stringify({ error: `cannot start chromium: ${e.message}` }) + '\n');
  process.exit(0);
});
setTimeout(() => {
  process.stdout.write(JSON.stringify({ error: 'driver deadline' }) + '\n');
  child.kill('SIGKILL');
  process.exit(0);
}, (opts.timeoutMs || 30000) + 15000).unref();
main();
