/**
 * `genrec serve`: the HTTP API over the store and the newest model bundle in the data dir (see
 * docs/serve.md). Host, port and API key come from the config file / environment (serve.host,
 * serve.port, serve.apiKey ← GENREC_SERVE_HOST, GENREC_SERVE_PORT, GENREC_SERVE_APIKEY) and flags.
 * Prints its address on stdout as one plain line (`http://127.0.0.1:PORT/`); logs go to stderr.
 * SIGINT / SIGTERM stop it cleanly: requests in flight finish, buffered records go to the store.
 */
import type { Command } from 'commander';
import { numberFlag } from '../flags.js';
import { log } from '../../engine/log.js';
import { configOf } from '../program.js';
import { sink } from '../output.js';

interface ServeFlags {
  host?: string; port?: string; apiKey?: string; authReads?: boolean; rateLimit: string; bodyLimit: string;
  flushInterval: string; checkpointInterval: string; watchInterval: string; retrainEvery: string; workers: string; threads: string;
  batchWait: string; maxBatch: string; beam: string;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('serve recommendations over HTTP (Gorse-shaped JSON API, OpenAPI docs at /docs)')
    .option('--host <host>', 'address to listen on (config serve.host)')
    .option('--port <port>', 'port, 0 = any free one (config serve.port)')
    .option('--api-key <key>', 'key required on writes, header X-API-Key (config serve.apiKey / GENREC_SERVE_APIKEY)')
    .option('--auth-reads', 'require the key on reads too')
    .option('--rate-limit <n>', 'requests per minute per client, 0 = unlimited', '0')
    .option('--body-limit <bytes>', 'largest request body', String(4 << 20))
    .option('--flush-interval <ms>', 'write buffered events to the store this often', '5000')
    .option('--checkpoint-interval <ms>', 'checkpoint the serve state and truncate its log this often', '60000')
    .option('--watch-interval <ms>', 'look for a newer model bundle this often, 0 = only POST /api/admin/reload', '2000')
    .option('--retrain-every <minutes>', 'run `genrec train` in a background process this often, 0 = never', '0')
    .option('--workers <n>', 'model worker threads', '1')
    .option('--threads <n>', 'ONNX Runtime threads per model worker', '1')
    .option('--batch-wait <ms>', 'extra wait to gather a micro-batch when a worker is free (requests always batch while workers are busy)', '0')
    .option('--max-batch <n>', 'most requests in one generator run', '32')
    .option('--beam <n>', 'beam width', '20')
    .action(async (f: ServeFlags, cmd: Command) => {
      const config = configOf(cmd);
      const { startServer } = await import('../../serve/index.js');
      const server = await startServer({
        dataDir: config.dataDir,
        host: f.host ?? config.serve.host,
        port: f.port !== undefined ? numberFlag('port', f.port) : config.serve.port,
        ...(f.apiKey ?? config.serve.apiKey ? { apiKey: (f.apiKey ?? config.serve.apiKey)! } : {}),
        authReads: !!f.authReads,
        rateLimit: numberFlag('rate-limit', f.rateLimit),
        bodyLimit: numberFlag('body-limit', f.bodyLimit, 1024),
        flushIntervalMs: numberFlag('flush-interval', f.flushInterval),
        checkpointIntervalMs: numberFlag('checkpoint-interval', f.checkpointInterval),
        watchModelsMs: numberFlag('watch-interval', f.watchInterval),
        retrainEveryMinutes: numberFlag('retrain-every', f.retrainEvery),
        workers: numberFlag('workers', f.workers, 1),
        threads: numberFlag('threads', f.threads, 1),
        batchWaitMs: numberFlag('batch-wait', f.batchWait),
        maxBatch: numberFlag('max-batch', f.maxBatch, 1),
        beam: numberFlag('beam', f.beam, 1),
      });
      sink.out(`${server.url}\n`);
      await untilSignal(server);
    });
}

/** Resolves once SIGINT or SIGTERM has closed `server` (requests finish, buffers flush, workers stop). */
export function untilSignal(server: { close(): Promise<void> }): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping');
      server.close().then(resolve, (e: unknown) => { log.error({ err: (e as Error).message }, 'shutdown failed'); resolve(); });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
