/**
 * `genrec bench tokenize`: the semantic-ID tokenizer on synthetic clustered vectors (default 1,000,000 ×
 * 256, compositional clusters — see src/tokenizer/synthetic.ts). Times fit + whole-catalogue encoding +
 * de-duplication + trie (not the data generation, reported apart) and reports peak RSS of the process.
 */
import type { BenchSuite } from './index.js';

export const tokenize: BenchSuite = {
  name: 'tokenize',
  description: 'residual k-means semantic IDs on synthetic clustered vectors: time, peak RSS, code quality',
  options: [
    { flags: '--items <n>', description: 'number of item vectors', default: '1000000' },
    { flags: '--dim <n>', description: 'vector dimension', default: '256' },
    { flags: '--levels <n>', description: 'quantiser levels', default: '3' },
    { flags: '--codebook-size <n>', description: 'codes per level (0 = from the catalogue size)', default: '0' },
    { flags: '--sample <n>', description: 'rows to fit on (0 = 256·K)', default: '0' },
    { flags: '--balanced', description: 'balanced assignment' },
    { flags: '--seed <n>', description: 'seed of data and tokenizer', default: '1' },
    { flags: '--threads <n>', description: 'ORT intra-op threads (0 = all cores)', default: '0' },
  ],
  async run(opts) {
    const { log } = await import('../src/engine/index.js');
    const { ResidualTokenizer, syntheticClusteredVectors } = await import('../src/tokenizer/index.js');
    const { intFlag: int } = await import('../src/cli/flags.js');
    const n = int('items', opts.items), dim = int('dim', opts.dim), seed = int('seed', opts.seed, 0), threads = int('threads', opts.threads, 0);
    const g0 = performance.now();
    const { vectors } = syntheticClusteredVectors(n, dim, { seed });
    const genSeconds = (performance.now() - g0) / 1000;
    log.info({ items: n, dim, genSeconds }, 'synthetic vectors ready');
    let stageLogged = '';
    const { tokenizer, report } = await ResidualTokenizer.fit(vectors, n, dim, {
      levels: int('levels', opts.levels), codebookSize: int('codebook-size', opts.codebookSize, 0), sampleSize: int('sample', opts.sample, 0), balanced: Boolean(opts.balanced), seed,
    }, {
      ...(threads ? { runtime: { threads } } : {}),
      onProgress: (stage) => { if (stage !== stageLogged) { stageLogged = stage; log.info({ stage }, 'tokenize'); } },
    });
    await tokenizer.release();
    const r4 = (v: number) => Number(v.toFixed(4));
    return {
      items: n,
      dim,
      seconds: Number(report.seconds.toFixed(2)),
      rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
      utilisation: report.levels.map((l) => r4(l.utilisation)),
      entropy: report.levels.map((l) => r4(l.entropy)),
      collision_rate: r4(report.collisionRate),
      recon_error: r4(report.reconError),
      recon_error_per_level: report.levels.map((l) => r4(l.reconError)),
      iterations: report.levels.map((l) => l.iterations),
      k: report.levels[0]!.k,
      unique: report.unique,
      max_group: report.maxGroup,
      dedup_capacity: report.dedupCapacity,
      sample: report.sampleSize,
      balanced: Boolean(opts.balanced),
      gen_seconds: Number(genSeconds.toFixed(2)),
    };
  },
};
