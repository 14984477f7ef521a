import { storeConformance } from './conformance.js';
import { MemoryDriver } from './memory.js';

storeConformance('memory', async () => new MemoryDriver());
