/**
 * The source's SELECT list for COPY. Columns are read as they are, except `xml`: PostgreSQL's
 * xml output and send functions (used by COPY, text and binary alike) drop the XML declaration
 * (`<?xml version="1.0" encoding="UTF-8"?>`), while `xml::text` returns the stored value. Reading
 * `::text` and writing into an xml column (whose input and receive functions keep the text) is
 * lossless. `xml[]` is read as `text[]`; such tables use text COPY (see catalog.ts).
 */
import { quoteIdent } from '../postgres/identifiers.js';

export const XML_OID = 142;
export const XML_ARRAY_OID = 143;

export function selectExpr(name: string, typeOid: number): string {
  const q = quoteIdent(name);
  if (typeOid === XML_OID) return `${q}::text as ${q}`;
  if (typeOid === XML_ARRAY_OID) return `${q}::text[] as ${q}`;
  return q;
}

export function selectList(columns: ReadonlyArray<{ name: string; sourceTypeOid: number }>): string {
  return columns.map((c) => selectExpr(c.name, c.sourceTypeOid)).join(', ');
}
