// The real-cluster scenarios (suite.ts) with deploy/purelb/overlays/frr.
import { clusterSuite } from './suite.ts';

clusterSuite('frr');
