/** Governance differential fuzzer, shard 4 of 4 (see fuzz/suite.ts; the shards run in parallel). */
import { defineFuzzShard } from './fuzz/suite.js';

defineFuzzShard(3);
