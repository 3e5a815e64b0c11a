#!/usr/bin/env node
// Benchmark 6's baseline: the seed flow (create -> code-run `print` ->
// delete) N times through the official TypeScript SDK, in one Node process,
// against the emulator named by DAYTONA_API_URL / DAYTONA_API_KEY.
//   seed_flow.js SDK_DIR N   ->   one JSON line on stdout:
//   {"flow_ms":[...], "cpu_ms":[...]}   (wall and this process's CPU per flow)
// A first flow warms the SDK up (module loading, first connection) and is
// not counted, as the C side does the same.
'use strict';
const path = require('path');

async function flow(Daytona, daytona) {
  const sb = await daytona.create({ language: 'python' });
  const r = await sb.process.codeRun('print("hello from the seed flow")');
  if (r.exitCode !== 0 || r.result.trim() !== 'hello from the seed flow') {
    throw new Error(`codeRun returned ${r.exitCode}: ${r.result}`);
  }
  await sb.delete();
}

async function main() {
  const [sdkDir, nArg] = process.argv.slice(2);
  const { Daytona } = require(path.join(path.resolve(sdkDir), 'node_modules', '@daytonaio', 'sdk'));
  const n = Number(nArg) || 20;
  const daytona = new Daytona();
  await flow(Daytona, daytona);
  const flowMs = [], cpuMs = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    await flow(Daytona, daytona);
    const c = process.cpuUsage(c0);
    flowMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    cpuMs.push((c.user + c.system) / 1000);
  }
  process.stdout.write(JSON.stringify({ flow_ms: flowMs, cpu_ms: cpuMs }) + '\n');
  // The SDK keeps its event socket open; the measurement is done.
  process.exit(0);
}

main().catch((e) => { console.error('seed_flow.js:', e.message); process.exit(1); });
