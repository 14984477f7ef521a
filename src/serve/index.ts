/**
 * The serving room: HTTP API (server.ts), online state (state.ts), durable log and store flushing
 * (wal.ts, durable.ts), model workers with micro-batching and hot swap (models.ts, model-worker.ts),
 * codes for new items (codes.ts, tokenizer-coder.ts), Prometheus metrics (metrics.ts). See docs/serve.md.
 */
export { startServer, type ServeOptions, type Server } from './server.js';
export { OnlineState, type StateOptions, type CtrRow } from './state.js';
export { Durable, ingestRequest, type DurableOptions, type FlushReport } from './durable.js';
export { Wal, readSegment, segments, segmentName } from './wal.js';
export { ModelHost, LoadedModel, type HostOptions, type GenResult } from './models.js';
export { OverlapCoder, type NewItemCoder, type ItemMeta } from './codes.js';
export { TokenizerCoder } from './tokenizer-coder.js';
export { Metrics } from './metrics.js';
export type { LogRecord, EventRecord, ItemRecord, UserRecord, DeleteRecord, ImpressionRecord } from './records.js';
export { spawnServe, GENREC_BIN } from './spawn.js';
