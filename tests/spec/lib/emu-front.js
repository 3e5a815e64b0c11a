#!/usr/bin/env node
'use strict';
/*
 * emu-front.js - stands in for daytona-emu (EMU_BIN) during the spec conformance run.
 *
 * It starts the real emulator (SPEC_REAL_EMU_BIN) with the caller's arguments on a private port,
 * listens itself on the port the caller asked for (--port/--port-file), and forwards every
 * request byte for byte.  The suites therefore see the emulator unchanged: binary bodies,
 * streamed responses, WebSocket upgrades and the Host header (the emulator derives
 * toolboxProxyUrl and preview URLs from it, so they point back at this front).  The one change
 * is on the event channel: see wsRewriter.
 *
 * After each HTTP exchange on the control plane (/api/...) or the toolbox (/toolbox/{id}/... and
 * the legacy /api/toolbox/{id}/toolbox/...), a copy (bodies capped at CAPTURE_LIMIT) goes to the
 * validation hub (SPEC_HUB_URL, lib/hub.js), which replays it through Prism's validating proxy;
 * WebSocket upgrades are only counted.  Validation is a shadow of the traffic: it never changes
 * what the client receives.
 *
 * Environment: SPEC_REAL_EMU_BIN, SPEC_HUB_URL (required); SPEC_SUITE (the suite the copies are
 * counted for, default sdk); SPEC_OUT (front.log and pids/ for run.sh's clean-up); SPEC_DEBUG
 * (log how many copies were sent at exit).
 *
 * Signals: SIGTERM/SIGINT/SIGHUP are passed to the emulator; the front exits with the emulator's
 * status once the copies still in flight have reached the hub.
 */
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

const CAPTURE_LIMIT = 4 * 1024 * 1024;
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer',
  'trailers', 'transfer-encoding', 'upgrade',
]);

/* The harness keeps our stderr only for start-up failures, so problems also go to SPEC_OUT. */
function warn(msg) {
  process.stderr.write(`emu-front: ${msg}\n`);
  if (process.env.SPEC_OUT) {
    try {
      fs.appendFileSync(path.join(process.env.SPEC_OUT, 'front.log'), `${new Date().toISOString()} ${process.pid} ${msg}\n`);
    } catch {
      /* best effort */
    }
  }
}

function die(msg) {
  warn(msg);
  process.exit(2);
}

const realBin = process.env.SPEC_REAL_EMU_BIN;
const hubUrl = process.env.SPEC_HUB_URL;
if (!realBin || !hubUrl) die('SPEC_REAL_EMU_BIN and SPEC_HUB_URL must be set (run tests/spec/run.sh)');
try {
  if (fs.realpathSync(realBin) === fs.realpathSync(__filename)) die('SPEC_REAL_EMU_BIN names this front, not daytona-emu');
} catch (e) {
  die(`SPEC_REAL_EMU_BIN: ${e.message}`);
}

/* The caller's --port and --port-file are ours; everything else goes to the emulator. */
function splitArgs(argv) {
  const rest = [];
  let port = 0;
  let portFile = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const inline = a.startsWith('--') && eq > 0 ? a.slice(eq + 1) : undefined;
    if (name === '--port' || name === '--port-file') {
      const v = inline !== undefined ? inline : argv[++i];
      if (name === '--port') port = Number(v);
      else portFile = v;
    } else {
      rest.push(a);
    }
  }
  return { port, portFile, rest };
}

const { port: wantPort, portFile, rest } = splitArgs(process.argv.slice(2));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'emu-front-'));
const emuPortFile = path.join(tmp, 'port');
const emu = spawn(realBin, ['--port', '0', '--port-file', emuPortFile, ...rest], {
  stdio: ['ignore', 'inherit', 'inherit'],
});
if (process.env.SPEC_OUT) {
  try {
    fs.writeFileSync(path.join(process.env.SPEC_OUT, 'pids', `${emu.pid}.emu`), `${process.pid}\n`);
  } catch {
    /* bookkeeping only */
  }
}

let emuPort = 0;
let emuExit = null;
const inflight = new Set();
let server = null;

/* ---------- copies to the hub ---------- */

/** Which spec an exchange belongs to, and its path relative to that spec's servers. */
function classify(url) {
  const q = url.indexOf('?');
  const p = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q);
  let m = /^\/toolbox\/([^/]+)(\/.*)$/.exec(p) || /^\/api\/toolbox\/([^/]+)\/toolbox(\/.*)$/.exec(p);
  if (m) return { spec: 'toolbox', sandbox: decodeURIComponent(m[1]), path: m[2], query };
  // The event channel is named as the SDK's parity entry has it; it is a WebSocket, never validated.
  if (p.startsWith('/api/socket.io')) return { spec: 'control', path: '/socket.io/', query };
  m = /^\/api(\/.*)$/.exec(p);
  if (m) return { spec: 'control', path: m[1], query };
  return null;
}

let sent = 0;
let acked = 0;

function sendToHub(kind, doc) {
  sent++;
  const body = Buffer.from(JSON.stringify({ ...doc, front: process.pid, suite: process.env.SPEC_SUITE || 'sdk' }));
  const u = new URL(`/${kind}`, hubUrl);
  const p = new Promise((resolve) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent: false,
        headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        if (res.statusCode === 202) acked++;
        res.resume();
        res.on('end', resolve);
        res.on('error', resolve);
      },
    );
    req.on('error', (e) => {
      warn(`hub unreachable (${kind} ${doc.method} ${doc.path}): ${e.message}`);
      resolve();
    });
    req.end(body);
  });
  inflight.add(p);
  p.finally(() => inflight.delete(p));
}

/** Collects up to CAPTURE_LIMIT bytes of a stream that is piped elsewhere. */
function capture() {
  const chunks = [];
  let size = 0;
  let truncated = false;
  return {
    add(c) {
      if (truncated) return;
      if (size + c.length > CAPTURE_LIMIT) {
        truncated = true;
        return;
      }
      chunks.push(c);
      size += c.length;
    },
    result() {
      return { truncated, b64: truncated ? '' : Buffer.concat(chunks).toString('base64') };
    },
  };
}

/* ---------- plain HTTP ---------- */

function forwardHeaders(raw) {
  const out = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!HOP_BY_HOP.has(raw[i].toLowerCase())) out.push(raw[i], raw[i + 1]);
  }
  return out;
}

function handle(req, res) {
  const cls = classify(req.url);
  const reqCap = capture();
  const up = http.request({
    host: '127.0.0.1', port: emuPort, method: req.method, path: req.url, agent: false,
    headers: forwardHeaders(req.rawHeaders),
  });
  up.on('response', (ur) => {
    const resCap = capture();
    res.writeHead(ur.statusCode, ur.statusMessage, forwardHeaders(ur.rawHeaders));
    res.flushHeaders();
    ur.on('data', (c) => {
      resCap.add(c);
      res.write(c);
    });
    ur.on('end', () => {
      res.end();
      if (!cls) return;
      const rq = reqCap.result();
      const rs = resCap.result();
      sendToHub('exchange', {
        ...cls,
        method: req.method,
        requestHeaders: req.headers,
        requestBody: rq.b64,
        requestTruncated: rq.truncated,
        status: ur.statusCode,
        responseHeaders: ur.headers,
        responseBody: rs.b64,
        responseTruncated: rs.truncated,
      });
    });
    ur.on('error', () => res.destroy());
  });
  up.on('error', (e) => {
    if (!res.headersSent) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`emu-front: emulator unreachable: ${e.message}\n`);
    } else {
      res.destroy();
    }
  });
  req.on('data', (c) => reqCap.add(c));
  req.pipe(up);
  res.on('close', () => {
    if (!res.writableFinished) up.destroy();
  });
}

/* ---------- WebSocket and other upgrades ---------- */

/*
 * The event channel (/api/socket.io/) carries sandbox DTOs whose toolboxProxyUrl the emulator
 * builds from its own address, not from the Host header as REST replies do.  A client that takes
 * the URL from an event would go around this front, so on that channel the text frames from the
 * emulator get the emulator's base URL replaced by the one the client used.  Everything else is
 * a raw pipe.
 */
function wsRewriter(from, to) {
  let buf = Buffer.alloc(0);
  let headDone = false;
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    const out = [];
    if (!headDone) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return Buffer.alloc(0);
      out.push(buf.subarray(0, end + 4));
      buf = buf.subarray(end + 4);
      headDone = true;
    }
    for (;;) {
      if (buf.length < 2) break;
      const b0 = buf[0];
      const masked = (buf[1] & 0x80) !== 0;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) break;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) break;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (masked) off += 4;
      if (buf.length < off + len) break;
      const payload = buf.subarray(off, off + len);
      const opcode = b0 & 0x0f;
      if (!masked && (opcode === 1 || opcode === 0) && payload.includes(from)) {
        const p = Buffer.from(payload.toString('latin1').split(from).join(to), 'latin1');
        let h;
        if (p.length < 126) {
          h = Buffer.from([b0, p.length]);
        } else if (p.length < 65536) {
          h = Buffer.alloc(4);
          h[0] = b0;
          h[1] = 126;
          h.writeUInt16BE(p.length, 2);
        } else {
          h = Buffer.alloc(10);
          h[0] = b0;
          h[1] = 127;
          h.writeBigUInt64BE(BigInt(p.length), 2);
        }
        out.push(h, p);
      } else {
        out.push(buf.subarray(0, off + len));
      }
      buf = buf.subarray(off + len);
    }
    return Buffer.concat(out);
  };
}

function upgrade(req, sock, head) {
  const cls = classify(req.url);
  if (cls) sendToHub('seen', { ...cls, method: req.method, upgrade: true });
  const events = req.url.startsWith('/api/socket.io');
  const up = net.connect(emuPort, '127.0.0.1', () => {
    let h = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      // Compressed frames could not be rewritten; the emulator offers no extension anyway.
      if (events && req.rawHeaders[i].toLowerCase() === 'sec-websocket-extensions') continue;
      h += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
    }
    up.write(h + '\r\n');
    if (head && head.length) up.write(head);
    if (events && req.headers.host) {
      const rw = wsRewriter(`http://127.0.0.1:${emuPort}`, `http://${req.headers.host}`);
      up.on('data', (c) => {
        const o = rw(c);
        if (o.length) sock.write(o);
      });
    } else {
      up.pipe(sock);
    }
    sock.pipe(up);
  });
  const close = () => {
    up.destroy();
    sock.destroy();
  };
  up.on('error', close);
  sock.on('error', close);
  up.on('close', () => sock.end());
  sock.on('close', () => up.end());
}

/* ---------- start-up and shutdown ---------- */

async function finish(code, signal) {
  await Promise.allSettled([...inflight]);
  if (process.env.SPEC_DEBUG) warn(`exit: ${sent} copies sent to the hub, ${acked} accepted`);
  fs.rmSync(tmp, { recursive: true, force: true });
  if (server) server.close();
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  }
  process.exit(code === null ? 1 : code);
}

emu.on('exit', (code, signal) => {
  emuExit = { code, signal };
  finish(code, signal);
});
emu.on('error', (e) => die(`cannot start ${realBin}: ${e.message}`));
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(sig, () => {
    if (!emuExit) emu.kill(sig);
  });
}

function waitForEmu() {
  const deadline = Date.now() + 20_000;
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (emuExit) return reject(new Error('emulator exited during start-up'));
      try {
        const n = Number(fs.readFileSync(emuPortFile, 'utf8').trim());
        if (n > 0) return resolve(n);
      } catch {
        /* not yet */
      }
      if (Date.now() > deadline) return reject(new Error('emulator wrote no port file within 20 s'));
      setTimeout(poll, 20);
    };
    poll();
  });
}

(async () => {
  try {
    emuPort = await waitForEmu();
  } catch (e) {
    warn(e.message);
    if (!emuExit) emu.kill('SIGKILL');
    return;
  }
  server = http.createServer({ requestTimeout: 0, keepAliveTimeout: 5000, maxHeaderSize: 1 << 20 }, handle);
  server.on('upgrade', upgrade);
  server.on('clientError', (e, sock) => sock.destroy());
  server.listen(wantPort || 0, '127.0.0.1', () => {
    const port = server.address().port;
    if (portFile) {
      const t = `${portFile}.tmp${process.pid}`;
      fs.writeFileSync(t, `${port}\n`);
      fs.renameSync(t, portFile);
    }
  });
})();
