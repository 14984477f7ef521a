/**
 * genrec's data room: schema, import, the embedded store, public dataset formats, splits, batches, the
 * synthetic generator and statistics. See docs/data.md.
 *
 * The main handoff to the rest of genrec is `Dataset` (dataset.ts): a compact, typed-array, CSR form of
 * interactions plus item and user metadata. Get one
 *   - from the store:          `await withStore({ dir, readOnly: true }, (s) => s.dataset())`
 *   - from a dataset folder:   `await loadDataset({ format: 'movielens', path })`   (no database)
 *   - from generated data:     `await datasetFromData(generateSynthetic({ seed }))`
 * then split it (`leaveOneOut` / `temporalSplit`) and feed the engine with `SequenceBatcher` or
 * `evalBatches`. Dense ids are per Dataset; `items.ids` / `users.ids` hold the stable external ids.
 */
export {
  type Dataset, type Interactions, type ItemCatalog, type UserTable, type Csr, type EventCoo, type BuildResult,
  IdMap, CooBuilder, buildInteractions, selectEvents, positiveOnly, compactDataset, bareCatalog,
  csrFromLists, csrRow, csrTokens, emptyCsr, userItems, sequenceLength,
} from './dataset.js';
export {
  type EventTypeDef, type EventColumns, type ItemColumns, type UserColumns, type ImportData,
  EventTypes, DEFAULT_EVENT_TYPES, MAX_EVENT_TYPES, EVENT_KEY_FIELDS, parseEventWeights, checkEventTypeName, fieldError,
} from './schema.js';
export { EventColumnsBuilder, normalizeEventColumns, normalizeItemColumns } from './columns.js';
export {
  type Split, type SplitKind, type SplitPart, type LeaveOneOutOptions, type TemporalOptions, type EvalCases, type EvalCaseOptions,
  leaveOneOut, temporalSplit, partRange, evalCases,
} from './split.js';
export {
  type Sequences, type TrainingSequenceOptions, type BatchOptions, type SequenceBatch, type EvalBatch, type EvalBatchOptions,
  trainingSequences, SequenceBatcher, evalBatches,
} from './batches.js';
export {
  type StoreDriver, type IngestRequest, type IngestReport, type StoreCounts, type FileFormat, type TimeFormat,
  type EventMapping, type ItemMapping, type UserMapping, type FileSource, type EventSource, type ItemSource, type UserSource,
} from './store/driver.js';
export { Store, withStore, storePath, requestFromData, readFileSources, STORE_FILE, type StoreOptions, type DatasetOptions } from './store/store.js';
export { MemoryDriver } from './store/memory.js';
export { DuckDBDriver, SCHEMA_VERSION } from './store/duckdb.js';
export { readAdapter, detectFormat, ADAPTER_FORMATS, type AdapterFormat, type AdapterOptions } from './adapters/index.js';
export { loadDataset, datasetFromData, type LoadOptions } from './load.js';
export { generateSynthetic, type SyntheticOptions } from './synthetic.js';
export { datasetStats, formatStats, type DatasetStats, type LengthSummary } from './stats.js';
export { writeEventsCsv, EVENT_CSV_HEADER, EVENT_CSV_MAPPING } from './csv.js';
export { planFileImport, fileColumns, formatOf, COLUMN_CANDIDATES, type FileImportOptions } from './import.js';
