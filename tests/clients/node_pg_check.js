// node-postgres (npm `pg`): $n parameters (extended protocol), named prepared statements, types.
// Run with NODE_PATH pointing at a folder whose node_modules has `pg`; server from GT_HOST/GT_PORT.
'use strict';
const { Client } = require('pg');

const EXPECTED_TABLES = ['resources', 'resource_versions', 'drift', 'drift_history', 'sources', 'scrapes',
  'identity_links', 'relations', 'query_catalog', 'attribute_drift_history'];
const RESOURCE_COLUMNS = ['source', 'kind', 'id', 'layer', 'name', 'attrs', 'attrs_hash', 'labels',
  'first_seen', 'last_changed', 'observed_at', 'provenance'];
const KNOWN = { source: 'synthetic_iac', kind: 'postgres_index', id: 'public.orders_customer_id_idx' };

let passed = 0;
const failed = [];
function expect(cond, message) { if (!cond) throw new Error(message); }
function short(err) {
  return String(err && err.message ? `${err.message}${err.code ? ` (SQLSTATE ${err.code})` : ''}` : err)
    .split('\n').map((l) => l.trim()).filter(Boolean).join(' | ').slice(0, 600);
}
function jsonObject(value) {
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) return value;
  expect(typeof value === 'string', `JSON column decoded as ${typeof value}`);
  return JSON.parse(value);
}

async function main() {
  const client = new Client({
    host: process.env.GT_HOST || '127.0.0.1', port: Number(process.env.GT_PORT || 5433),
    user: process.env.GT_USER || 'demo', database: process.env.GT_DB || 'groundtruth',
  });
  const checks = [];
  const check = (name, fn) => checks.push([name, fn]);

  check('information_schema lists the tables', async () => {
    const res = await client.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', ['public']);
    const names = new Set(res.rows.map((r) => r.table_name));
    const missing = EXPECTED_TABLES.filter((t) => !names.has(t));
    expect(missing.length === 0, `missing tables ${missing}`);
  });
  check('resources rows, columns and types', async () => {
    const res = await client.query('SELECT * FROM resources WHERE source = $1 AND kind = $2 ORDER BY id',
      ['synthetic_cloud', 'aws_lambda_function']);
    expect(JSON.stringify(res.fields.map((f) => f.name)) === JSON.stringify(RESOURCE_COLUMNS),
      `columns ${res.fields.map((f) => f.name)}`);
    const firstSeen = res.fields.find((f) => f.name === 'first_seen');
    expect(firstSeen.dataTypeID === 1184, `first_seen type OID ${firstSeen.dataTypeID} (want 1184 timestamptz)`);
    expect(res.rows.length >= 3, `${res.rows.length} lambda functions`);
    for (const row of res.rows) {
      expect(row.layer === 'live' && row.id.startsWith('arn:aws:lambda:'), `row ${row.id}`);
      expect(row.first_seen instanceof Date && !Number.isNaN(row.first_seen.getTime()), `first_seen ${row.first_seen}`);
      expect(typeof jsonObject(row.attrs).memory_size === 'number', `attrs ${row.attrs}`);
    }
  });
  check('parameterized query returns the row asked for', async () => {
    const res = await client.query('SELECT kind, id, layer FROM resources WHERE source = $1 AND id = $2',
      [KNOWN.source, KNOWN.id]);
    expect(res.rows.length === 1 && res.rows[0].kind === KNOWN.kind && res.rows[0].layer === 'declared',
      `rows ${JSON.stringify(res.rows)}`);
  });
  check('named prepared statement, run twice', async () => {
    for (const [source, kind] of [[KNOWN.source, KNOWN.kind], ['synthetic_cloud', 'aws_sqs_queue']]) {
      const res = await client.query({ name: 'by_kind', text: 'SELECT id FROM resources WHERE source = $1 AND kind = $2 ORDER BY id', values: [source, kind] });
      expect(res.rows.length > 0, `no ${kind} in ${source}`);
    }
  });
  check('Date/bool/int parameters', async () => {
    let res = await client.query('SELECT count(*) AS n FROM resource_versions WHERE valid_from <= $1 AND source = $2', [new Date(), KNOWN.source]);
    expect(Number(res.rows[0].n) > 0, `count ${res.rows[0].n}`);
    res = await client.query('SELECT source FROM sources WHERE stale = $1', [false]);
    expect(res.rows.some((r) => r.source === KNOWN.source), 'stale = false');
    res = await client.query('SELECT scrape_id FROM scrapes WHERE resources_seen >= $1 LIMIT 1', [1]);
    expect(res.rows.length === 1, 'resources_seen >= 1');
  });
  check('types of sources', async () => {
    const res = await client.query('SELECT source, stale, scrapes, staleness_seconds, last_success_at, last_error FROM sources WHERE source = $1', [KNOWN.source]);
    const row = res.rows[0];
    expect(row.stale === false, `stale ${row.stale}`);
    expect(/^\d+$/.test(String(row.scrapes)) && Number(row.scrapes) > 0, `scrapes ${row.scrapes}`); // int8 is a string in pg
    expect(typeof row.staleness_seconds === 'number', `staleness_seconds ${typeof row.staleness_seconds}`);
    expect(row.last_success_at instanceof Date, `last_success_at ${row.last_success_at}`);
    expect(row.last_error === null, `last_error ${row.last_error}`);
  });
  check('text[] column', async () => {
    const res = await client.query("SELECT changed_paths FROM changes(now() - INTERVAL '30 days', now()) WHERE change = 'modified' LIMIT 1");
    const paths = res.rows[0].changed_paths;
    expect(Array.isArray(paths) && paths.length > 0 && typeof paths[0] === 'string', `changed_paths ${JSON.stringify(paths)}`);
  });
  check('literal types (timestamptz keeps its zone)', async () => {
    const res = await client.query("SELECT 1::int4 AS i, 1.5::float8 AS f, true AS b, NULL::text AS n, '2024-01-02 03:04:05+00'::timestamptz AS t");
    const row = res.rows[0];
    expect(row.i === 1 && row.f === 1.5 && row.b === true && row.n === null, `row ${JSON.stringify(row)}`);
    const t = res.fields.find((f) => f.name === 't');
    expect(t.dataTypeID === 1184, `timestamptz literal has type OID ${t.dataTypeID} (want 1184)`);
    expect(row.t.toISOString() === '2024-01-02T03:04:05.000Z', `timestamptz ${row.t.toISOString()}`);
  });
  check('error has SQLSTATE and keeps the session', async () => {
    let error = null;
    try { await client.query('SELECT * FROM no_such_table'); } catch (e) { error = e; }
    expect(error && error.code, `error ${error}`);
    const res = await client.query('SELECT 42 AS v');
    expect(Number(res.rows[0].v) === 42, `session unusable after an error: ${JSON.stringify(res.rows)}`);
  });

  try {
    await client.connect();
  } catch (e) {
    failed.push('connect'); console.log(`FAIL node-pg: connect: ${short(e)}`);
    return;
  }
  for (const [name, fn] of checks) {
    try {
      await fn();
      passed += 1; console.log(`ok   node-pg: ${name}`);
    } catch (e) {
      failed.push(name); console.log(`FAIL node-pg: ${name}: ${short(e)}`);
    }
  }
  await client.end();
}

main().catch((e) => { failed.push('run'); console.log(`FAIL node-pg: run: ${short(e)}`); }).finally(() => {
  console.log(`node-pg: ${passed} passed, ${failed.length} failed`);
  process.exit(failed.length ? 1 : 0);
});
