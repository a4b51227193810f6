// bird/ospf end to end on the lab (scenarios in backend-suite.ts).
import { backendSuite } from './backend-suite.ts';

backendSuite('bird', 'ospf', '2');
