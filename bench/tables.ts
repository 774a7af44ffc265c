/**
 * The bench's tables: DDL and generation SQL, one named constant per statement (STYLE: SQL in one
 * place). Generation is generate_series-based and reproducible: every value is derived from the
 * row number through seeded hash functions (`hashint8extended(i, seed)`, `md5(seed || i)`), so the
 * same profile gives the same bytes on every machine, in any plan (serial or parallel), without
 * depending on `random()`'s state. `setseed` is still set first so any future `random()` use stays
 * reproducible too.
 *
 * Row sizes (average `pg_column_size` of the row, measured on PostgreSQL 18):
 *   events     ~500 B   bigint id, uuid, text columns, inet, int, bool, timestamptz, short jsonb
 *   orders    ~1.5 KB   numeric(12,2) amounts, addresses and notes as text, ~1 KB jsonb
 *   documents  ~20 KB   long text + jsonb: stored out of line and compressed (TOAST)
 *   accounts   ~120 B   pgbench_accounts' own shape and values (int key, int, int, char(84) blank)
 */

export type BenchTableName = 'events' | 'orders' | 'documents' | 'accounts';

export interface BenchTable {
  name: BenchTableName;
  /** Columns in table order; the checksum lists them explicitly so column order cannot matter. */
  columns: readonly string[];
  /** CREATE TABLE without constraints (the destination's bare table, and the source before load). */
  createSql: string;
  /** Run after the load on the source only. */
  primaryKeySql: string;
  /** INSERT ... SELECT generating the rows with ids fromId..toId (inclusive); chunks can run concurrently. */
  insertSql(fromId: number, toId: number): string;
}

/** Changing the seed (or any SQL below) changes the data; the generator hash notices and regenerates. */
export const BENCH_SEED = 20240611;

export const SETSEED_SQL = 'select setseed(0.42)';

const EVENTS_CREATE = `create table public.events (
  id bigint not null,
  event_id uuid not null,
  user_id int not null,
  kind text not null,
  channel text not null,
  url text not null,
  user_agent text,
  message text not null,
  ip inet,
  is_bot boolean not null,
  created_at timestamptz not null,
  payload jsonb
)`;

const USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36',
  'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
  'shop-api-client/3.2.1 (+https://shop.example.com/docs/api; python-requests/2.31)',
];

const sqlArray = (items: readonly string[]): string => `array[${items.map((s) => `'${s.replace(/'/g, "''")}'`).join(',')}]`;

const eventsInsert = (fromId: number, toId: number): string => `insert into public.events
select i, event_id, user_id, kind, channel,
  'https://shop.example.com/' || channel || '/' || kind || '/' || substr(m, 1, 16) || '?ref=' || (abs(h2 % 1000))::text || '&page=' || page::text,
  case when abs(h3 % 10) = 0 then null else (${sqlArray(USER_AGENTS)})[1 + abs(h3 % ${USER_AGENTS.length})] end,
  'user ' || user_id::text || ' ' || kind || ' on ' || channel || ': ' || m || ' ' || reverse(m) || ' ' || substr(m2, 1, 20),
  case when abs(h1 % 50) = 0 then null
       when abs(h2 % 9) = 0 then ('2001:db8:' || to_hex(abs(h1 % 65536)) || '::' || to_hex(abs(h3 % 65536)))::inet
       else ('10.' || abs(h1 % 256)::text || '.' || abs(h2 % 256)::text || '.' || abs(h3 % 256)::text)::inet end,
  abs(h2 % 7) = 0,
  timestamptz '2024-01-01 00:00:00+00' + (abs(h1 % 31536000000000) * interval '1 microsecond'),
  case when abs(h3 % 20) = 0 then null
       else jsonb_build_object('session', substr(m2, 1, 12), 'page', page, 'score', round(abs(h1 % 10000) / 100.0, 2),
                               'tags', jsonb_build_array(kind, channel), 'ok', abs(h2 % 3) <> 0) end
from (
  select i, h1, h2, h3, m, m2,
    md5('${BENCH_SEED}-event-' || i::text)::uuid as event_id,
    abs(h1 % 500000)::int as user_id,
    (${sqlArray(['page_view', 'click', 'signup', 'login', 'logout', 'purchase', 'search', 'share'])})[1 + abs(h1 % 8)] as kind,
    (${sqlArray(['web', 'ios', 'android', 'api'])})[1 + abs(h2 % 4)] as channel,
    abs(h3 % 50)::int as page
  from (
    select i, hashint8extended(i, ${BENCH_SEED}) as h1, hashint8extended(i, ${BENCH_SEED + 1}) as h2,
      hashint8extended(i, ${BENCH_SEED + 2}) as h3, md5('${BENCH_SEED}-m-' || i::text) as m, md5('${BENCH_SEED}-n-' || i::text) as m2
    from generate_series(${fromId}::bigint, ${toId}::bigint) as i
    offset 0
  ) h
  offset 0
) g`;

const ORDERS_CREATE = `create table public.orders (
  id bigint not null,
  customer_id bigint not null,
  amount numeric(12,2) not null,
  tax numeric(12,2) not null,
  total numeric(12,2) not null,
  currency text not null,
  status text not null,
  shipping_address text not null,
  billing_address text,
  notes text,
  items jsonb not null,
  created_at timestamptz not null,
  updated_at timestamptz
)`;

const STREETS = ['Main Street', 'Rue de la Paix', 'Hauptstraße', 'Calle Mayor', 'Via Roma', 'Baker Street', 'Elm Avenue', 'Station Road'];
const CITIES = ['Lyon 69002', 'Berlin 10115', 'Madrid 28013', 'Roma 00184', 'London NW1 6XE', 'Springfield 62704', 'Zürich 8001', 'Porto 4000-123'];

const address = (h: string, salt: number): string =>
  `(abs(${h} % 900) + ${salt})::text || ' ' || (${sqlArray(STREETS)})[1 + abs((${h} / ${7 + salt}) % ${STREETS.length})] || ', apt ' || (abs(${h} % 97))::text || ', ' || (${sqlArray(CITIES)})[1 + abs((${h} / ${13 + salt}) % ${CITIES.length})] || ', care of ' || substr(md5(${h}::text), 1, 10)`;

const ordersInsert = (fromId: number, toId: number): string => `insert into public.orders
select i, customer_id, amount, tax, amount + tax, currency, status,
  ${address('h1', 1)},
  case when abs(h2 % 10) < 3 then null else ${address('h2', 3)} end,
  case when abs(h3 % 4) = 0 then null
       else 'Leave at the door. ' || m || ' Call ' || (abs(h2 % 1000000000))::text || ' before delivery. ' || reverse(m) || ' Gift wrap: ' || (abs(h3 % 2) = 0)::text || '. ' || m || m end,
  (select jsonb_build_object(
     'items', jsonb_agg(jsonb_build_object(
        'sku', 'SKU-' || upper(substr(md5(i::text || '-' || k::text), 1, 10)),
        'name', 'Product ' || substr(md5(k::text || '-' || i::text), 1, 18),
        'qty', 1 + abs(hashint8extended(i * 8 + k, ${BENCH_SEED}) % 5),
        'unit_price', round(abs(hashint8extended(i * 8 + k, ${BENCH_SEED + 3}) % 100000) / 100.0, 2),
        'attrs', jsonb_build_object('color', (${sqlArray(['red', 'green', 'blue', 'black', 'white'])})[1 + (k % 5)], 'size', (${sqlArray(['S', 'M', 'L', 'XL'])})[1 + (k % 4)], 'warehouse', 'WH-' || (k * 7 % 13)::text)) order by k),
     'coupon', case when abs(h1 % 5) = 0 then substr(m, 1, 8) else null end,
     'channel', (${sqlArray(['web', 'ios', 'android', 'store'])})[1 + abs(h2 % 4)])
   from generate_series(1, 6) as k),
  created_at,
  case when abs(h3 % 3) = 0 then null else created_at + (abs(h2 % 864000) * interval '1 second') end
from (
  select i, h1, h2, h3, m,
    abs(h1 % 100000) + 1 as customer_id,
    round(abs(h2 % 5000000) / 100.0, 2)::numeric(12,2) as amount,
    round(abs(h2 % 5000000) / 500.0, 2)::numeric(12,2) as tax,
    (${sqlArray(['EUR', 'USD', 'GBP', 'CHF', 'JPY'])})[1 + abs(h3 % 5)] as currency,
    (${sqlArray(['new', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded'])})[1 + abs(h1 % 6)] as status,
    timestamptz '2023-01-01 00:00:00+00' + (abs(h1 % 63072000000000) * interval '1 microsecond') as created_at
  from (
    select i, hashint8extended(i, ${BENCH_SEED + 10}) as h1, hashint8extended(i, ${BENCH_SEED + 11}) as h2,
      hashint8extended(i, ${BENCH_SEED + 12}) as h3, md5('${BENCH_SEED}-o-' || i::text) as m
    from generate_series(${fromId}::bigint, ${toId}::bigint) as i
    offset 0
  ) h
  offset 0
) g`;

const DOCUMENTS_CREATE = `create table public.documents (
  id bigint not null,
  title text not null,
  body text not null,
  meta jsonb not null,
  created_at timestamptz not null
)`;

// body: 120 distinct md5 words (~4 KB) repeated 4 times (~16 KB) compresses about 3-4x, as prose does.
const documentsInsert = (fromId: number, toId: number): string => `insert into public.documents
select i,
  'Document ' || i::text || ': ' || substr(m, 1, 24),
  repeat(words || E'\\n', 4),
  (select jsonb_build_object('authors', jsonb_agg(jsonb_build_object('name', 'Author ' || substr(md5(i::text || ':' || k::text), 1, 12), 'role', (${sqlArray(['writer', 'editor', 'reviewer'])})[1 + k % 3], 'rev', k) order by k),
                             'lang', (${sqlArray(['en', 'fr', 'de', 'es'])})[1 + abs(h1 % 4)], 'words', 480, 'checksum', m)
   from generate_series(1, 40) as k),
  timestamptz '2020-01-01 00:00:00+00' + (abs(h1 % 157680000000000) * interval '1 microsecond')
from (
  select i, h1, m, (select string_agg(md5('${BENCH_SEED}-d-' || i::text || '-' || k::text), ' ' order by k) from generate_series(1, 120) as k) as words
  from (
    select i, hashint8extended(i, ${BENCH_SEED + 20}) as h1, md5('${BENCH_SEED}-doc-' || i::text) as m
    from generate_series(${fromId}::bigint, ${toId}::bigint) as i
    offset 0
  ) h
  offset 0
) g`;

const primaryKey = (table: BenchTableName, column = 'id'): string => `alter table public.${table} add primary key (${column})`;

// What `pgbench -i` writes into pgbench_accounts (the table everyone benchmarks first): aid, its
// branch (100,000 accounts a branch), a zero balance and an 84-character blank filler.
const ACCOUNTS_CREATE = `create table public.accounts (
  aid int not null,
  bid int,
  abalance int,
  filler char(84)
)`;

const accountsInsert = (fromId: number, toId: number): string =>
  `insert into public.accounts select i, (i - 1) / 100000 + 1, 0, '' from generate_series(${fromId}, ${toId}) as i`;

export const BENCH_TABLES: Record<BenchTableName, BenchTable> = {
  events: {
    name: 'events',
    columns: ['id', 'event_id', 'user_id', 'kind', 'channel', 'url', 'user_agent', 'message', 'ip', 'is_bot', 'created_at', 'payload'],
    createSql: EVENTS_CREATE,
    primaryKeySql: primaryKey('events'),
    insertSql: eventsInsert,
  },
  orders: {
    name: 'orders',
    columns: ['id', 'customer_id', 'amount', 'tax', 'total', 'currency', 'status', 'shipping_address', 'billing_address', 'notes', 'items', 'created_at', 'updated_at'],
    createSql: ORDERS_CREATE,
    primaryKeySql: primaryKey('orders'),
    insertSql: ordersInsert,
  },
  documents: {
    name: 'documents',
    columns: ['id', 'title', 'body', 'meta', 'created_at'],
    createSql: DOCUMENTS_CREATE,
    primaryKeySql: primaryKey('documents'),
    insertSql: documentsInsert,
  },
  accounts: {
    name: 'accounts',
    columns: ['aid', 'bid', 'abalance', 'filler'],
    createSql: ACCOUNTS_CREATE,
    primaryKeySql: primaryKey('accounts', 'aid'),
    insertSql: accountsInsert,
  },
};

export const ALL_BENCH_TABLES: readonly BenchTableName[] = ['events', 'orders', 'documents', 'accounts'];
