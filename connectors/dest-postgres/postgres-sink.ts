/**
 * The PostgreSQL Sink (connectors/contract/connector.ts) on the leader's destination connection:
 * prepare (prepare.ts; user types are read from the source's catalog), finish (finalize.ts: swap
 * or merge, with the stream's state row in the same transaction) and clean-up after a failure.
 */
import type pg from 'pg';
import type { FinishStep, PrepareInput, Sink } from '../contract/connector.js';
import type { StreamStateWrite } from '../contract/state.js';
import type { WriteContract } from '../contract/write-contract.js';
import type { ChangeSink, ChangeTarget } from '../contract/changes.js';
import { ChangeApplier } from './apply-changes.js';
import { cleanupStream, finalizeStream } from './finalize.js';
import { prepareStreams } from './prepare.js';
import { writeStreamState } from './state-store.js';

export class PostgresSink implements Sink {
  constructor(
    readonly client: pg.Client,
    /** The source's connection: prepare copies user-defined types from its catalog. */
    private readonly sourceCatalog: pg.Client,
    private readonly state: { schema: string; pipeline: string },
  ) {}

  prepare(inputs: readonly PrepareInput[]): Promise<WriteContract[]> {
    return prepareStreams(this.client, this.sourceCatalog, inputs);
  }
  async finalize(contract: WriteContract, state?: StreamStateWrite, onStep?: (step: FinishStep) => void): Promise<void> {
    await finalizeStream(this.client, contract, state ? (c) => writeStreamState(c, this.state.schema, this.state.pipeline, state) : undefined, onStep);
  }
  cleanup(contract: WriteContract): Promise<void> {
    return cleanupStream(this.client, contract);
  }

  /** CDC: a ChangeSink writing into `targets` (contracts from prepare). */
  changeSink(targets: readonly ChangeTarget[]): ChangeSink {
    const applier = new ChangeApplier(targets);
    const writeStates = async (c: pg.Client, states: readonly StreamStateWrite[]) => {
      for (const st of states) await writeStreamState(c, this.state.schema, this.state.pipeline, st);
    };
    return {
      write: (items) => applier.write(this.client, items),
      commit: (states) => applier.commit(this.client, (c) => writeStates(c, states)),
      rollback: () => applier.rollback(this.client),
      rejected: () => applier.rejectedChanges(),
      schemaChanges: () => applier.decisions(),
      storeStates: async (states) => {
        await this.client.query('begin');
        try {
          await writeStates(this.client, states);
          await this.client.query('commit');
        } catch (e) {
          await this.client.query('rollback').catch(() => {});
          throw e;
        }
      },
    };
  }
}
