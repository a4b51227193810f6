// bird/bgp end to end on the lab (scenarios in backend-suite.ts).
import { backendSuite } from './backend-suite.ts';

backendSuite('bird', 'bgp', '1');
