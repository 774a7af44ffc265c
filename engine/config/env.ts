/**
 * `${VAR}` substitution for the pipeline YAML (docs/design.md section 10).
 *
 *   ${NAME}            the value of NAME; an error when NAME is not set (an empty value is kept)
 *   ${NAME:-fallback}  the value of NAME, or `fallback` when NAME is unset or empty (as in sh)
 *   $${NAME}           the literal text `${NAME}` (escape)
 *   $NAME, lone `$`    left as they are: only the braced form is a reference
 *
 * NAME is `[A-Za-z_][A-Za-z0-9_]*`; the fallback runs to the first `}` (no nesting).
 *
 * Substitution runs on each scalar value after YAML parsing, never on the file text, so a value
 * cannot inject YAML structure and every line/column stays exact. One problem remains: YAML's
 * flow collections (`config: { url: ${SRC_URL} }`, the example in docs/design.md section 10) treat `{`,
 * `}` and `,` as syntax, so the reference would not even parse. `protectReferences` therefore
 * re-encodes the ASCII characters of each `${...}` into the Unicode private-use area before the
 * parser sees the text: same length (line/column preserved), no YAML indicator characters, and
 * `restoreReferences` maps them back on every scalar the walker reads. (Consequence: YAML quote
 * escapes are not applied inside a reference, so a fallback is taken exactly as typed.)
 */

export type Env = Record<string, string | undefined>;

export interface EnvSubstitution {
  /** The text with every reference replaced (missing variables become the empty string). */
  value: string;
  /** How many `${...}` references were resolved or attempted (0 = the text had none). */
  referenceCount: number;
  /** Names referenced without a fallback that are not set in the environment. */
  missing: string[];
  /** References whose body is not `NAME` or `NAME:-fallback`, e.g. `${1X}` or an unclosed `${X`. */
  malformed: string[];
}

const REFERENCE_NAME = /^([A-Za-z_][A-Za-z0-9_]*)(?::-([\s\S]*))?$/;

/** Replaces `${...}` references in one scalar value. */
export function substituteEnv(text: string, env: Env): EnvSubstitution {
  const result: EnvSubstitution = { value: '', referenceCount: 0, missing: [], malformed: [] };
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    if (text.startsWith('$${', dollar)) {
      out += '${';
      i = dollar + 3;
      continue;
    }
    if (!text.startsWith('${', dollar)) {
      out += '$';
      i = dollar + 1;
      continue;
    }
    result.referenceCount++;
    const close = text.indexOf('}', dollar + 2);
    if (close < 0) {
      result.malformed.push(text.slice(dollar));
      out += text.slice(dollar);
      break;
    }
    const body = text.slice(dollar + 2, close);
    const match = REFERENCE_NAME.exec(body);
    if (!match) {
      result.malformed.push(`\${${body}}`);
      out += text.slice(dollar, close + 1);
    } else {
      const [, name, fallback] = match;
      const value = env[name];
      if (fallback !== undefined) out += value === undefined || value === '' ? fallback : value;
      else if (value === undefined) result.missing.push(name);
      else out += value;
    }
    i = close + 1;
  }
  result.value = out;
  return result;
}

// ASCII 0x20..0x7E inside a reference is shifted into U+E020..U+E07E (private use, never YAML
// syntax, one UTF-16 unit each so offsets do not move).
const PROTECT_OFFSET = 0xe000;
const PROTECTED_CHAR = /[\uE020-\uE07E]/;
const PROTECTED_CHARS = /[\uE020-\uE07E]/g;
const REFERENCE_TEXT = /\$\{[^{}\r\n]*\}/g;

/**
 * Makes every `${...}` in a YAML text safe for flow collections, keeping its length. A text that
 * already contains the private-use characters is returned unchanged (decoding would be ambiguous).
 */
export function protectReferences(yamlText: string): string {
  if (PROTECTED_CHAR.test(yamlText)) return yamlText;
  return yamlText.replace(REFERENCE_TEXT, (ref) => {
    let encoded = '';
    for (const ch of ref) {
      const code = ch.charCodeAt(0);
      encoded += code >= 0x20 && code <= 0x7e ? String.fromCharCode(code + PROTECT_OFFSET) : ch;
    }
    return encoded;
  });
}

/** Inverse of `protectReferences` for one scalar (or message) taken out of the parsed document. */
export function restoreReferences(text: string): string {
  if (!PROTECTED_CHAR.test(text)) return text;
  return text.replace(PROTECTED_CHARS, (ch) => String.fromCharCode(ch.charCodeAt(0) - PROTECT_OFFSET));
}
