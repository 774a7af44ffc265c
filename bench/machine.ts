/** The machine a bench ran on, for reports and baselines (a ratio is only comparable on alike machines). */
import os from 'node:os';
import { gnuTimeAvailable } from './measure.js';
import { pgcopydbVersion } from './contenders/pgcopydb.js';
import { psqlVersion } from './contenders/psql-pipe.js';

export interface MachineDescription {
  cpu_model: string;
  cores: number;
  memory_gib: number;
  os: string;
  node: string;
  /** Server versions seen, e.g. "source 18.1 (embedded), destination 18.1 (embedded)". */
  postgres: string;
  psql?: string;
  pgcopydb?: string;
  cpu_measurement: 'gnu-time' | 'proc-poll';
}

export async function describeMachine(postgres: string): Promise<MachineDescription> {
  const cpus = os.cpus();
  return {
    cpu_model: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memory_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    postgres,
    psql: await psqlVersion(),
    pgcopydb: (await pgcopydbVersion())?.version,
    cpu_measurement: gnuTimeAvailable() ? 'gnu-time' : 'proc-poll',
  };
}

export function machineLine(m: MachineDescription): string {
  return `${m.cores} cores (${m.cpu_model}), ${m.memory_gib} GiB, ${m.os}, Node ${m.node}, PostgreSQL ${m.postgres}`;
}
