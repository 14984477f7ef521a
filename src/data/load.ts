/**
 * Files → Dataset without a database: an adapter's columns go through the in-memory reference driver
 * (same validation, id mapping, ordering and de-duplication as the store) straight into a Dataset. This
 * is the fast path for benchmarks and experiments on the public datasets.
 */
import { readAdapter, type AdapterFormat, type AdapterOptions } from './adapters/index.js';
import type { Dataset } from './dataset.js';
import type { ImportData } from './schema.js';
import { MemoryDriver } from './store/memory.js';
import { Store, type DatasetOptions } from './store/store.js';

export interface LoadOptions extends AdapterOptions, DatasetOptions {
  format: AdapterFormat | 'auto';
  path: string;
}

/** A Dataset from import data (adapter output, generated data), without a database. */
export async function datasetFromData(data: ImportData, opts: DatasetOptions = {}): Promise<Dataset> {
  const store = await Store.open({ driver: new MemoryDriver() });
  await store.importData(data);
  return store.dataset({ label: data.label, ...opts });
}

/** Reads a dataset folder (s3rec / movielens / recbole) into a Dataset, without a database. */
export async function loadDataset(opts: LoadOptions): Promise<Dataset> {
  const data = readAdapter(opts.format, opts.path, opts);
  return datasetFromData(data, { catalog: opts.catalog, label: opts.label ?? data.label });
}
