// frr/ospf end to end on the lab (scenarios in backend-suite.ts).
import { backendSuite } from './backend-suite.ts';

backendSuite('frr', 'ospf', '4');
