/**
 * `genrec bench engine`: training-step speed of the TypeScript → ONNX engine against ORT's own GEMM
 * rate on this machine. Both models are written through the public Module API and autodiff.
 */
import type { BenchSuite } from './index.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

async function timeIt(n: number, warmup: number, fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

export const engine: BenchSuite = {
  name: 'engine',
  description: 'training-step time and GFLOP/s of an MLP and a 2-block transformer vs ORT GEMM peak',
  options: [
    { flags: '--steps <n>', description: 'timed steps per model (median reported)', default: '20' },
    { flags: '--threads <n>', description: 'ORT intra-op threads (0 = all cores)', default: '0' },
    { flags: '--profile <prefix>', description: 'write ORT profiles with this file prefix' },
  ],
  async run(opts) {
    const { Graph, Module, Linear, TrainStep, Rng, createSession, emit, toOrt, op, log } = await import('../src/engine/index.js');
    const { TinyLM } = await import('../src/models/index.js');
    const { intFlag } = await import('../src/cli/flags.js');
    const steps = Math.max(20, intFlag('steps', opts.steps));
    const threads = intFlag('threads', opts.threads, 0) || undefined;
    const runtime = { ...(threads ? { threads } : {}), ...(opts.profile ? { profilePrefix: String(opts.profile) } : {}) };
    const rng = new Rng(7);

    // ORT's own 1024² float32 MatMul, same session options.
    const N = 1024;
    const g = new Graph('gemm');
    const a = g.input('a', 'float32', [N, N]);
    const b = g.input('b', 'float32', [N, N]);
    const gemm = await createSession(emit(g, { c: a.matmul(b) }).bytes, runtime);
    const am = new Float32Array(N * N).map(() => rng.normal());
    const bm = new Float32Array(N * N).map(() => rng.normal());
    const out = new Float32Array(N * N);
    const gemmMs = await timeIt(steps, 3, () => gemm.run({ a: toOrt(am, [N, N]), b: toOrt(bm, [N, N]) }, { c: toOrt(out, [N, N]) }));
    const gemmGflops = (2 * N ** 3) / gemmMs / 1e6;
    log.info({ gemmMs, gemmGflops }, 'gemm');

    // MLP 256→512→1000, batch 1024, softmax cross-entropy, AdamW.
    class Mlp extends Module {
      fc1 = new Linear(256, 512);
      fc2 = new Linear(512, 1000);
      forward(x: InstanceType<typeof Graph>['inputs'][number]) { return this.fc2.forward(this.fc1.forward(x).relu()); }
    }
    const B = 1024;
    const mlp = new Mlp().initialize(1);
    const mlpStep = await TrainStep.compile({
      module: mlp, optimizer: { kind: 'adamw', weightDecay: 0.01 }, runtime,
      build: (gr) => ({ loss: op.crossEntropy(mlp.forward(gr.input('x', 'float32', [B, 256])), gr.input('y', 'int32', [B])) }),
    });
    const x = new Float32Array(B * 256).map(() => rng.normal());
    const y = new Int32Array(B).map(() => rng.int(1000));
    const mlpMs = await timeIt(steps, 3, () => mlpStep.run({ x: { data: x, dims: [B, 256] }, y: { data: y, dims: [B] } }, 1e-3));
    const mlpFlops = 3 * 2 * B * (256 * 512 + 512 * 1000);
    log.info({ mlpMs, nodes: mlpStep.nodeCount }, 'mlp');

    // Transformer: vocab 1024, T 50, 2 pre-norm blocks d 128 / 4 heads / GELU 512, tied logits.
    const cfg = { vocab: 1024, maxLen: 50, nLayer: 2, dModel: 128, nHead: 4, dFF: 512, norm: 'layer' as const, mlp: 'gelu' as const };
    const TB = 256, T = 50;
    const lm = new TinyLM(cfg).initialize(1);
    const lmStep = await TrainStep.compile({
      module: lm, optimizer: { kind: 'adamw', weightDecay: 0.01 }, runtime,
      build: (gr) => ({ loss: op.crossEntropy(lm.forward(gr.input('ids', 'int32', [TB, T])), gr.input('targets', 'int32', [TB * T])) }),
    });
    const ids = new Int32Array(TB * T).map(() => rng.int(cfg.vocab));
    const targets = new Int32Array(TB * T).map(() => rng.int(cfg.vocab));
    const lmMs = await timeIt(steps, 3, () => lmStep.run({ ids: { data: ids, dims: [TB, T] }, targets: { data: targets, dims: [TB * T] } }, 1e-3));
    const lmFlops = TinyLM.stepFlops(cfg, TB, T);
    log.info({ lmMs, nodes: lmStep.nodeCount }, 'transformer');
    await Promise.all([gemm.release(), mlpStep.dispose(), lmStep.dispose()]);

    const transformerGflops = lmFlops / lmMs / 1e6;
    const r3 = (v: number) => Math.round(v * 1000) / 1000;
    return {
      gemm_gflops: r3(gemmGflops),
      mlp_step_ms: r3(mlpMs),
      mlp_gflops: r3(mlpFlops / mlpMs / 1e6),
      transformer_step_ms: r3(lmMs),
      transformer_gflops: r3(transformerGflops),
      mfu: r3(transformerGflops / gemmGflops),
      threads: threads ?? 'all',
      steps,
      mlp_nodes: mlpStep.nodeCount,
      transformer_nodes: lmStep.nodeCount,
      transformer_flops_per_step: lmFlops,
    };
  },
};
