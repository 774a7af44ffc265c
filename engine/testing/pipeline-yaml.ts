/** Builds a pipeline YAML for tests: one source and destination URL, streams, write mode. */
export interface TestPipeline {
  name?: string;
  srcUrl: string;
  dstUrl: string;
  streams: string[];
  writeMode?: 'append' | 'replace' | 'upsert';
  destSchema?: string;
  loadMethod?: 'copy' | 'insert';
  primaryKey?: string[];
  /** Extra top-level YAML appended as is (e.g. `resources: { max_batch_bytes: 64kb }`). */
  extra?: string;
}

export function pipelineYaml(p: TestPipeline): string {
  const dest = [`url: "${p.dstUrl}"`, p.destSchema ? `schema: ${p.destSchema}` : '', p.loadMethod ? `load_method: ${p.loadMethod}` : ''].filter(Boolean).join(', ');
  return `version: "1.0"
pipeline: ${p.name ?? 'test_pipeline'}
source:
  use: postgres
  config: { url: "${p.srcUrl}" }
  streams:
${p.streams.map((s) => `    - name: ${s}`).join('\n')}
destination:
  use: postgres
  config: { ${dest} }
  write_mode: ${p.writeMode ?? 'replace'}
${p.primaryKey ? `  primary_key: [${p.primaryKey.join(', ')}]\n` : ''}${p.extra ? `${p.extra.trimEnd()}\n` : ''}`;
}
