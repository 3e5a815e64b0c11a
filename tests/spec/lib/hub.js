#!/usr/bin/env node
'use strict';
/*
 * hub.js - replays recorded exchanges through Prism's validating proxy and collects violations.
 *
 *   node lib/hub.js OUT_DIR
 *
 * Starts one `prism proxy` per OpenAPI document (control plane, toolbox) with --errors=false and
 * this hub as their upstream.  emu-front.js POSTs each exchange it forwarded (request and
 * response) to /exchange; the hub sends the request to the right Prism, Prism forwards it back
 * to /replay, which answers with the response the emulator really gave, and Prism reports what
 * it found in the sl-violations response header (request and response violations).  So Prism
 * validates exactly what the SDK sent and received, while the SDK's traffic itself never goes
 * through Prism (whose proxy reads bodies as UTF-8 text, drops the Host header, cannot carry
 * WebSockets and re-mocks upstream 501s).
 *
 * Environment: SPEC_CONTROL_DOC, SPEC_TOOLBOX_DOC (the OpenAPI documents, required);
 * SPEC_PARITY_TABLE (docs/parity.json: names the SDK operations the documents lack).
 *
 * Writes OUT_DIR/hub.port once both Prisms listen.  POST /seen counts a WebSocket upgrade.
 * POST /drain waits for the queue to empty, writes OUT_DIR/violations.json and
 * OUT_DIR/coverage.json, answers, and shuts everything down.
 */
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');
// Prism's own modules, resolved from the pinned prism-cli so hoisting cannot change them.
const PRISM_DIR = path.dirname(require.resolve('@stoplight/prism-cli/package.json'));
const fromPrism = (m) => require(require.resolve(m, { paths: [PRISM_DIR] }));
const { getHttpOperationsFromSpec } = fromPrism('@stoplight/prism-http');
const { jsonrepair } = fromPrism('jsonrepair');

const SPECS = {
  control: process.env.SPEC_CONTROL_DOC,
  toolbox: process.env.SPEC_TOOLBOX_DOC,
};
const CONCURRENCY = 4;
const PRISM_CLI = path.join(PRISM_DIR, 'dist', 'index.js');
const outDir = process.argv[2];
if (!outDir || !SPECS.control || !SPECS.toolbox) {
  process.stderr.write('usage: SPEC_CONTROL_DOC=... SPEC_TOOLBOX_DOC=... hub.js OUT_DIR\n');
  process.exit(2);
}

const prisms = {}; // spec -> {port, child}
const operations = {}; // spec -> [{method, path, re, literals}]
const pending = new Map(); // replay id -> exchange
const queue = [];
let active = 0;
let nextId = 1;
let idleWaiters = [];

// Results: violations keyed by "spec|operation|violation", coverage keyed by "spec|operation".
const violations = new Map();
const coverage = new Map();
const received = new Map(); // front pid -> copies received (diagnostics)

/* ---------- operations ---------- */

function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function template(method, p, extra) {
  const segs = p.split('/');
  const re = segs.map((s) => (/^\{[^}]+\}$/.test(s) ? '[^/]+' : escapeRe(s))).join('/');
  return {
    method: method.toUpperCase(),
    path: p,
    re: new RegExp(`^${re}/?$`),
    literals: segs.filter((s) => s && !s.startsWith('{')).length,
    extra,
  };
}

/*
 * The document's operations, plus the ones the SDK calls that the v0.190 document lacks (from
 * docs/parity.json, SPEC_PARITY_TABLE): those are named by the SDK's path and not sent to Prism,
 * which has nothing to validate them against; any other unknown path still goes to Prism.
 */
async function loadOperations(spec) {
  const ops = await getHttpOperationsFromSpec(SPECS[spec]);
  operations[spec] = ops.map((o) => template(o.method, o.path, false));
  const table = process.env.SPEC_PARITY_TABLE;
  if (table && fs.existsSync(table)) {
    for (const o of JSON.parse(fs.readFileSync(table, 'utf8')).operations || []) {
      if (o.api === spec && !o.specPath) operations[spec].push(template(o.method, o.path, true));
    }
  }
}

/** The operation template a concrete request belongs to (most literal segments wins), or null. */
function operationOf(spec, method, p) {
  let best = null;
  for (const o of operations[spec]) {
    if (o.method !== method || !o.re.test(p)) continue;
    if (!best || o.literals > best.literals) best = o;
  }
  return best;
}

function opName(spec, method, p) {
  const o = operationOf(spec, method, p);
  return o ? `${method} ${o.path}` : `${method} ${p} (not in the document)`;
}

/* ---------- bookkeeping ---------- */

function covered(spec, op, how, status, suite) {
  const k = `${spec}|${op}`;
  let c = coverage.get(k);
  if (!c) {
    c = { spec, operation: op, requests: 0, validated: 0, upgrades: 0, unvalidated: {}, statuses: [], suites: {} };
    coverage.set(k, c);
  }
  c.requests++;
  c.suites[suite] = (c.suites[suite] || 0) + 1;
  if (how === 'validated') c.validated++;
  else if (how === 'upgrade') c.upgrades++;
  else c.unvalidated[how] = (c.unvalidated[how] || 0) + 1;
  if (status !== undefined && !c.statuses.includes(status)) c.statuses.push(status);
}

/** Array indices become "*" so one violation on every item of a list is one entry. */
function normalizeViolation(v) {
  const loc = (v.location || []).map((s) => (/^\d+$/.test(String(s)) ? '*' : String(s))).join('.');
  const msg = String(v.message || '').replace(/\.\d+(?=\.|\b)/g, '.*');
  const code = v.code === undefined || v.code === null ? '' : ` [${v.code}]`;
  return { text: `${loc}${code} ${msg}`.trim(), severity: v.severity || 'Error' };
}

function recordViolation(spec, op, v, example, suite) {
  const n = normalizeViolation(v);
  const k = `${spec}|${op}|${n.text}`;
  const have = violations.get(k);
  if (have) {
    have.count++;
    if (!have.suites.includes(suite)) have.suites.push(suite);
    return;
  }
  violations.set(k, { spec, operation: op, violation: n.text, severity: n.severity, count: 1, example, suites: [suite] });
}

/* ---------- replay through Prism ---------- */

const DROP_REQ = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade']);
const DROP_RES = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'content-encoding']);

function validate(ex) {
  return new Promise((resolve) => {
    const id = String(nextId++);
    pending.set(id, ex);
    const headers = {};
    for (const [k, v] of Object.entries(ex.requestHeaders || {})) {
      if (!DROP_REQ.has(k)) headers[k] = v;
    }
    headers['x-spec-replay'] = id;
    const body = Buffer.from(ex.requestBody || '', 'base64');
    if (body.length) headers['content-length'] = body.length;
    const req = http.request(
      { host: '127.0.0.1', port: prisms[ex.spec].port, method: ex.method, path: ex.path + ex.query, headers,
        agent: false },
      (res) => {
        const raw = res.headers['sl-violations'];
        res.resume();
        res.on('end', () => {
          pending.delete(id);
          resolve({ status: res.statusCode, raw, replayed: ex.replayed === true });
        });
      },
    );
    req.on('error', (e) => {
      pending.delete(id);
      resolve({ error: e.message });
    });
    req.end(body.length ? body : undefined);
  });
}

function parseViolations(raw) {
  if (!raw) return [];
  const s = String(raw);
  if (!s.startsWith('Too many violations! ')) return JSON.parse(s);
  // Prism cuts the header at ~8 KiB; keep what survives and say so.
  let part = [];
  try {
    part = JSON.parse(jsonrepair(s.slice('Too many violations! '.length)));
  } catch {
    part = [];
  }
  part.push({ location: ['proxy'], code: 'truncated', severity: 'Error',
    message: 'Prism truncated the sl-violations header (more violations than fit in 8 KiB)' });
  return part;
}

async function processExchange(ex) {
  const op = opName(ex.spec, ex.method, ex.path);
  const example = `${ex.method} ${ex.path}${ex.query} -> ${ex.status}`;
  const tpl = operationOf(ex.spec, ex.method, ex.path);
  if (tpl && tpl.extra) {
    covered(ex.spec, op, 'not in the document', ex.status, ex.suite);
    return;
  }
  if (ex.requestTruncated || ex.responseTruncated) {
    covered(ex.spec, op, 'body larger than the capture limit', ex.status, ex.suite);
    return;
  }
  if (ex.status === 501) {
    // Prism would answer an upstream 501 with a mock of its own, validating nothing real.
    covered(ex.spec, op, '501 from the emulator', ex.status, ex.suite);
    recordViolation(ex.spec, op, { location: ['response'], code: 501, severity: 'Error',
      message: 'the emulator answered 501 Not Implemented' }, example, ex.suite);
    return;
  }
  const r = await validate(ex);
  if (r.error || !r.replayed) {
    covered(ex.spec, op, 'replay failed', ex.status, ex.suite);
    recordViolation(ex.spec, op, { location: ['proxy'], code: 'replay', severity: 'Error',
      message: `Prism did not forward the request (${r.error || `Prism answered ${r.status} itself`})` }, example, ex.suite);
    return;
  }
  covered(ex.spec, op, 'validated', ex.status, ex.suite);
  for (const v of parseViolations(r.raw)) {
    // Prism names the documented codes but not the one returned; the allowlist needs both.
    const m = /^Unable to match the returned status code with those defined in the document: (.*)$/.exec(v.message || '');
    if (m) v.message = `status ${ex.status} is not in the document (documented: ${m[1]})`;
    recordViolation(ex.spec, op, v, example, ex.suite);
  }
}

function pump() {
  while (active < CONCURRENCY && queue.length) {
    const ex = queue.shift();
    active++;
    processExchange(ex)
      .catch((e) => process.stderr.write(`hub: ${e.stack || e}\n`))
      .finally(() => {
        active--;
        pump();
      });
  }
  if (!active && !queue.length) {
    const w = idleWaiters;
    idleWaiters = [];
    w.forEach((f) => f());
  }
}

/* ---------- HTTP ---------- */

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function replay(req, res) {
  const ex = pending.get(String(req.headers['x-spec-replay'] || ''));
  req.resume();
  if (!ex) {
    res.writeHead(599, { 'content-type': 'text/plain' });
    res.end('hub: unknown replay id\n');
    return;
  }
  ex.replayed = true;
  const headers = {};
  for (const [k, v] of Object.entries(ex.responseHeaders || {})) {
    if (!DROP_RES.has(k)) headers[k] = v;
  }
  const body = Buffer.from(ex.responseBody || '', 'base64');
  res.writeHead(ex.status, headers);
  res.end(ex.status === 204 || ex.status === 304 || ex.method === 'HEAD' ? undefined : body);
}

function writeResults() {
  const byKey = (a, b) => (a.spec + a.operation).localeCompare(b.spec + b.operation);
  const v = [...violations.values()].sort((a, b) => byKey(a, b) || a.violation.localeCompare(b.violation));
  const c = [...coverage.values()].sort(byKey);
  for (const e of c) e.statuses.sort((a, b) => a - b);
  for (const e of v) e.suites.sort();
  fs.writeFileSync(path.join(outDir, 'violations.json'), JSON.stringify(v, null, 2) + '\n');
  fs.writeFileSync(path.join(outDir, 'coverage.json'), JSON.stringify(c, null, 2) + '\n');
}

function shutdown(code) {
  for (const p of Object.values(prisms)) if (p.child.exitCode === null) p.child.kill('SIGTERM');
  setTimeout(() => process.exit(code), 200).unref();
}

const server = http.createServer(async (req, res) => {
  try {
    if (req.headers['x-spec-replay'] !== undefined) return replay(req, res);
    if (req.method === 'POST' && (req.url === '/exchange' || req.url === '/seen')) {
      const doc = JSON.parse((await readBody(req)).toString('utf8'));
      res.writeHead(202).end();
      received.set(doc.front, (received.get(doc.front) || 0) + 1);
      if (!SPECS[doc.spec]) return;
      if (req.url === '/seen') {
        covered(doc.spec, opName(doc.spec, doc.method, doc.path), 'upgrade', undefined, doc.suite);
        return;
      }
      queue.push(doc);
      pump();
      return;
    }
    if (req.method === 'POST' && req.url === '/drain') {
      await readBody(req);
      if (active || queue.length) await new Promise((r) => idleWaiters.push(r));
      writeResults();
      for (const [pid, n] of received) process.stderr.write(`hub: front ${pid}: ${n} copies received\n`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ violations: violations.size, operations: coverage.size }) + '\n');
      shutdown(0);
      return;
    }
    res.writeHead(404).end();
  } catch (e) {
    process.stderr.write(`hub: ${e.stack || e}\n`);
    if (!res.headersSent) res.writeHead(500).end();
  }
});

/** A port that was free a moment ago (Prism at --verboseLevel warn does not log the one it bound). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function connectable(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function startPrism(spec, hubPort) {
  const port = await freePort();
  const log = fs.createWriteStream(path.join(outDir, `prism-${spec}.log`));
  const child = spawn(process.execPath, [PRISM_CLI, 'proxy', SPECS[spec], `http://127.0.0.1:${hubPort}/replay`,
    '--host', '127.0.0.1', '--port', String(port), '--errors=false', '--verboseLevel', 'warn'], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const deadline = Date.now() + 60_000;
  while (child.exitCode === null && child.signalCode === null && Date.now() < deadline) {
    if (await connectable(port)) {
      prisms[spec] = { port, child };
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`prism (${spec}) did not listen on ${port} (see ${log.path})`);
}

server.listen(0, '127.0.0.1', async () => {
  const port = server.address().port;
  try {
    await Promise.all([loadOperations('control'), loadOperations('toolbox'),
      startPrism('control', port), startPrism('toolbox', port)]);
  } catch (e) {
    process.stderr.write(`hub: ${e.message}\n`);
    shutdown(1);
    return;
  }
  fs.writeFileSync(path.join(outDir, 'hub.port'), `${port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => shutdown(1));
