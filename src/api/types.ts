// TypeScript shapes of the purelb.io/v1 kinds (wire field names, exactly as PureLB v1).
import type { KubernetesObject } from '@kubernetes/client-node';

export interface AddressPoolSpec {
  pool: string;
  subnet: string;
  aggregation?: string;
}

export interface ServiceGroupLocalSpec {
  subnet?: string;
  pool?: string;
  aggregation?: string;
  v4pool?: AddressPoolSpec;
  v6pool?: AddressPoolSpec;
  v4pools?: AddressPoolSpec[];
  v6pools?: AddressPoolSpec[];
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

/** A Kubernetes LabelSelector as written in a manifest (src/api/validate-node-selectors.ts parses it). */
export interface LabelSelectorSpec {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

/** Which Services may use a group (MetalLB IPAddressPool names; namespaceDefault from PureLB 0.17). */
export interface ServiceAllocationSpec {
  namespaces?: string[];
  namespaceSelectors?: LabelSelectorSpec[];
  serviceSelectors?: LabelSelectorSpec[];
  namespaceDefault?: boolean;
}

export interface ServiceGroup extends KubernetesObject {
  spec?: {
    local?: ServiceGroupLocalSpec;
    netbox?: { url?: string; tenant?: string; aggregation?: string };
    nodeSelectors?: LabelSelectorSpec[];
    preferredNodeSelectors?: LabelSelectorSpec[];
    autoAssign?: boolean;
    serviceAllocation?: ServiceAllocationSpec;
  };
  status?: {
    observedGeneration?: number;
    allocatedIPv4?: number;
    allocatedIPv6?: number;
    availableIPv4?: number;
    availableIPv6?: number;
    conditions?: Condition[];
  };
}

export interface LBNodeAgent extends KubernetesObject {
  spec?: { local?: { localint?: string; extlbint?: string; sendgarp?: boolean } };
}
