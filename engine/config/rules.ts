/**
 * Rules that span several fields of the pipeline YAML (docs/design.md section 10). They run as zod
 * refinements with `when: ALWAYS`, i.e. even when sibling fields already failed, so a file's
 * problems are all reported in one go. That is also why every rule reads its input defensively:
 * a field that failed its own check still holds the raw YAML value here.
 */

import { addRuleIssue } from './schema-parts.js';
import { checkQualifiedName } from './identifiers.js';

type IssueSink = Parameters<typeof addRuleIssue>[0];
type Fields = Record<string, unknown>;

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const CONNECTION_FORMS = 'exactly one of url, host or embedded: true';
/** The libpq settings next to url or host (engine/config/connection.ts TUNING_KEYS). */
const TUNING_FIELDS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'connect_timeout', 'keepalives', 'keepalives_idle', 'tcp_user_timeout'] as const;
const HOST_ONLY_FIELDS = ['port', 'user', 'password', 'database'] as const;

/**
 * Exactly one of url / host / embedded, and only the fields that belong to that form (host's user
 * and database default as libpq's: PGUSER or the OS user, PGDATABASE or the user name).
 */
export function checkConnection(raw: unknown, ctx: IssueSink): void {
  if (!isFields(raw)) return;
  const has = (key: string) => raw[key] !== undefined;
  const forms = (['url', 'host', 'embedded'] as const).filter((key) => (key === 'embedded' ? raw.embedded === true : has(key)));
  if (forms.length === 0) {
    addRuleIssue(ctx, [], 'no connection given: set url, host, or embedded: true', CONNECTION_FORMS);
    return;
  }
  if (forms.length > 1) {
    for (const form of forms.slice(1)) {
      addRuleIssue(ctx, [form], `${form} cannot be combined with ${forms[0]} (use ${CONNECTION_FORMS})`, CONNECTION_FORMS);
    }
    return;
  }
  const form = forms[0];
  if (form === 'url') {
    for (const key of HOST_ONLY_FIELDS) {
      if (has(key)) addRuleIssue(ctx, [key], `${key} cannot be combined with url (put it in the URL instead)`, `no ${key} next to url`);
    }
  } else if (form === 'embedded') {
    for (const key of [...HOST_ONLY_FIELDS.filter((k) => k !== 'database'), ...TUNING_FIELDS]) {
      if (has(key)) {
        addRuleIssue(ctx, [key], `${key} does not apply to embedded: true (rb runs the local cluster itself)`, `no ${key} with embedded: true`);
      }
    }
  }
}

/** A stream name must split into schema and table (identifiers.ts). */
export function checkStreamName(name: string, ctx: IssueSink): void {
  const check = checkQualifiedName(name);
  if (!check.ok) addRuleIssue(ctx, [], `not a valid table name: ${check.problem}`, 'table or schema.table (double-quote parts that contain dots or quotes)');
}

/** Incremental streams need a cursor. */
export function checkStream(stream: unknown, ctx: IssueSink): void {
  if (!isFields(stream)) return;
  if (stream.sync_mode === 'incremental' && stream.cursor_field === undefined) {
    addRuleIssue(ctx, ['cursor_field'], 'required when sync_mode is incremental', 'a cursor column name');
  }
}

/** Two entries for the same table would race each other into one destination table. */
export function checkStreamNames(streams: unknown, ctx: IssueSink): void {
  if (!Array.isArray(streams)) return;
  const firstIndex = new Map<string, number>();
  streams.forEach((stream, i) => {
    if (!isFields(stream) || typeof stream.name !== 'string') return;
    const check = checkQualifiedName(stream.name);
    if (!check.ok) return;
    const key = JSON.stringify([check.name.schema, check.name.table]);
    const first = firstIndex.get(key);
    if (first === undefined) {
      firstIndex.set(key, i);
      return;
    }
    addRuleIssue(
      ctx,
      [i, 'name'],
      `duplicate stream: ${check.name.schema}.${check.name.table} is already streams[${first}]`,
      'each table once',
    );
  });
}

/** Upsert merges by key: either destination.primary_key or a primary_key on every stream. */
export function checkUpsertKey(config: unknown, ctx: IssueSink): void {
  if (!isFields(config) || !isFields(config.destination)) return;
  const destination = config.destination;
  if (destination.write_mode !== 'upsert' || destination.primary_key !== undefined) return;
  const streams = isFields(config.source) && Array.isArray(config.source.streams) ? config.source.streams : [];
  const everyStreamHasKey = streams.length > 0 && streams.every((s) => isFields(s) && s.primary_key !== undefined);
  if (everyStreamHasKey) return;
  // CDC applies each table by its own primary key unless one is given (the planner says when a
  // table has none).
  if (streams.length > 0 && streams.every((s) => isFields(s) && s.sync_mode === 'cdc')) return;
  addRuleIssue(
    ctx,
    ['destination', 'primary_key'],
    'required when write_mode is upsert (or give every stream its own primary_key)',
    'a list of key columns',
  );
}
