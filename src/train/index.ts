export { demoTrainLoss, type LmDemoOptions } from './lm-demo.js';
