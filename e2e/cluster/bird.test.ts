// The real-cluster scenarios (suite.ts) with deploy/purelb/overlays/bird.
import { clusterSuite } from './suite.ts';

clusterSuite('bird');
