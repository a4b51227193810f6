// The real-cluster scenarios (suite.ts) with deploy/purelb/overlays/gobgp.
import { clusterSuite } from './suite.ts';

clusterSuite('gobgp');
