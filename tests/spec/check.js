#!/usr/bin/env node
'use strict';
/*
 * check.js - compares a run's violations with the reviewed allowlist.
 *
 *   node check.js OUT_DIR ALLOWLIST.json
 *
 * OUT_DIR/violations.json comes from lib/hub.js: one entry per distinct (spec, operation,
 * violation).  An allowlist entry is {spec, operation, violation, reason}: `operation` is
 * "METHOD /path/{template}" as in the OpenAPI document (or a regular expression when it starts
 * with "^"), `violation` a regular expression matched against the violation text
 * ("location [code] message", array indices written as *), and `reason` says why the difference
 * is accepted, with the reference section.  Exit status 1 when a violation matches no entry or an
 * entry is malformed; entries that matched nothing are warnings.
 */
const fs = require('node:fs');
const path = require('node:path');

function load(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function compileEntries(list) {
  const errors = [];
  const entries = list.map((e, i) => {
    const where = `allowlist entry ${i + 1} (${e.operation || '?'})`;
    for (const k of ['spec', 'operation', 'violation', 'reason']) {
      if (typeof e[k] !== 'string' || !e[k].trim()) errors.push(`${where}: "${k}" must be a non-empty string`);
    }
    if (e.spec !== 'control' && e.spec !== 'toolbox') errors.push(`${where}: "spec" must be control or toolbox`);
    let opRe = null;
    let vRe = null;
    try {
      opRe = typeof e.operation === 'string' && e.operation.startsWith('^') ? new RegExp(e.operation) : null;
      vRe = new RegExp(e.violation || '(?!)');
    } catch (x) {
      errors.push(`${where}: ${x.message}`);
    }
    return { ...e, opRe, vRe, hits: 0 };
  });
  return { entries, errors };
}

function matches(entry, v) {
  if (entry.spec !== v.spec) return false;
  const opOk = entry.opRe ? entry.opRe.test(v.operation) : entry.operation === v.operation;
  return opOk && entry.vRe && entry.vRe.test(v.violation);
}

function main() {
  const [outDir, allowFile] = process.argv.slice(2);
  if (!outDir || !allowFile) {
    process.stderr.write('usage: check.js OUT_DIR ALLOWLIST.json\n');
    process.exit(2);
  }
  const violations = load(path.join(outDir, 'violations.json'));
  const coverage = load(path.join(outDir, 'coverage.json'));
  const { entries, errors } = compileEntries(load(allowFile).entries || []);

  const unlisted = [];
  const listed = [];
  for (const v of violations) {
    const hit = entries.filter((e) => matches(e, v));
    hit.forEach((e) => e.hits++);
    (hit.length ? listed : unlisted).push({ v, hit });
  }
  const validated = coverage.reduce((n, c) => n + c.validated, 0);
  const ops = coverage.filter((c) => c.validated > 0).length;
  const say = (s) => process.stdout.write(s + '\n');

  say(`spec: ${validated} exchanges validated over ${ops} operations ` +
      `(${coverage.length} operations seen, WebSocket upgrades and oversized bodies are not validated)`);
  say(`spec: ${violations.length} distinct violations: ${listed.length} allowlisted, ${unlisted.length} unlisted`);
  for (const { v, hit } of listed) {
    say(`  allowed  [${v.spec}] ${v.operation}: ${v.violation} (x${v.count}) — ${hit[0].reason}`);
  }
  for (const { v } of unlisted) {
    say(`  UNLISTED [${v.spec}] ${v.operation}: ${v.violation} (x${v.count}, e.g. ${v.example})`);
  }
  for (const e of entries.filter((x) => x.hits === 0)) {
    say(`  warning: allowlist entry no longer occurs: [${e.spec}] ${e.operation}: ${e.violation}`);
  }
  for (const e of errors) say(`  ERROR ${e}`);
  const ok = unlisted.length === 0 && errors.length === 0;
  say(ok ? 'spec: conformance OK' : 'spec: conformance FAILED (add a reviewed allowlist entry with its reason, or fix the emulator)');
  process.exit(ok ? 0 : 1);
}

main();
