/** `rb check <pipeline.yaml>`: loads the file and prints what engine/api/check.ts finds, as lines or `--json`. */
import { check } from '../api/check.js';
import { loadPipelineConfig, type PipelineConfig } from '../config/index.js';
import { RbError } from '../errors.js';
import { printError } from './output.js';

export async function checkCommand(file: string, o: { json?: boolean }): Promise<number> {
  let config: PipelineConfig;
  try {
    config = loadPipelineConfig(file);
  } catch (e) {
    if (!(e instanceof RbError)) throw e;
    printError(e, !!o.json);
    return e.exitCode;
  }
  const r = await check(config, { file });
  if (o.json) process.stdout.write(`${JSON.stringify({ status: r.status, checks: r.checks.map(({ exitCode: _x, ...l }) => l) })}\n`);
  else for (const l of r.checks) process.stdout.write(`${!l.ok ? 'FAIL' : l.warn ? 'warn' : 'ok  '}  ${l.check}: ${l.detail}\n`);
  return r.exitCode;
}
