/**
 * Turns a file's configuration issues into the one RbError the user sees.
 *
 * Code rule (all exit 2):
 *   config_parse        the YAML does not parse (only syntax errors are reported: the rest of a
 *                       broken document cannot be trusted);
 *   config_missing_var  every remaining problem is an unset `${VAR}` — the file is fine, the
 *                       environment is not, which scripts may want to tell apart;
 *   config_invalid      anything else (missing variables are still listed alongside).
 *
 * Message: one line per issue, sorted by position, `file:line:column path: message`, e.g.
 *   pipeline.yaml:12:7 source.streams[1].cursor_field: required when sync_mode is incremental
 * Found values have passwords masked (issues.ts); the whole message is masked again as a backstop.
 */

import { connStringPassword } from '../../connectors/postgres/conninfo.js';
import { RbError, redact, type RbErrorCode } from '../errors.js';
import type { ConfigIssue } from './issues.js';

const MIN_BACKSTOP_SECRET_CHARS = 4;

export function formatIssueLine(fileName: string, issue: ConfigIssue): string {
  const path = issue.path ? `${issue.path}: ` : '';
  return `${fileName}:${issue.line}:${issue.column} ${path}${issue.message}`;
}

export function configErrorCode(issues: readonly ConfigIssue[]): RbErrorCode {
  if (issues.some((i) => i.kind === 'syntax')) return 'config_parse';
  if (issues.length > 0 && issues.every((i) => i.kind === 'missing_var')) return 'config_missing_var';
  return 'config_invalid';
}

export function configError(fileName: string, issues: readonly ConfigIssue[], secrets: readonly string[] = []): RbError {
  const sorted = [...issues].sort((a, b) => a.line - b.line || a.column - b.column);
  // Found values were masked with every secret already; this pass is a backstop, limited to
  // secrets long enough not to blank out line numbers and ordinary words.
  const backstop = secrets.filter((s) => s.length >= MIN_BACKSTOP_SECRET_CHARS);
  const message = redactSecrets(sorted.map((issue) => formatIssueLine(fileName, issue)).join('\n'), backstop);
  return new RbError(configErrorCode(sorted), message, { details: { file: fileName, issues: sorted } });
}

// Any scheme: a `mysql://user:pw@` pasted into the wrong field is still a password.
const URL_TEXT = /[a-z][a-z0-9+.-]*:\/\/[^\s"']*/gi;
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)([^@\s]*)@/gi;

/** Masks the known secrets and the password part of any `scheme://user:password@` in a text. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  return redact(text.replace(URL_CREDENTIALS, '$1***@'), [...secrets]);
}

/** Every password in the document: `password:` values and the password part of URLs. */
export function collectSecrets(data: unknown): string[] {
  const secrets = new Set<string>();
  const visit = (value: unknown, key: string | undefined) => {
    if (typeof value === 'string') {
      if (key === 'password' && value) secrets.add(value);
      // A libpq keyword/value string (url: "host=db password=..."), whose password no URL pattern finds.
      if (key === 'url' && /password\s*=/.test(value)) {
        const password = connStringPassword(value);
        if (password) secrets.add(password);
      }
      for (const url of value.match(URL_TEXT) ?? []) {
        try {
          const parsed = new URL(url);
          if (parsed.password) {
            secrets.add(parsed.password);
            secrets.add(safeDecode(parsed.password));
          }
          const queryPassword = parsed.searchParams.get('password');
          if (queryPassword) secrets.add(queryPassword);
        } catch {
          // Not a parseable URL: URL_CREDENTIALS still masks its user:password@ part by pattern.
        }
      }
    } else if (typeof value === 'number' && key === 'password') {
      secrets.add(String(value));
    } else if (Array.isArray(value)) {
      for (const item of value) visit(item, undefined);
    } else if (typeof value === 'object' && value !== null) {
      for (const [k, v] of Object.entries(value)) visit(v, k);
    }
  };
  visit(data, undefined);
  return [...secrets];
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
