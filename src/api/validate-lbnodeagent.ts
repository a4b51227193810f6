// LBNodeAgent: how the node agent places addresses. parseLBNodeAgent turns the wire object into the
// normalised config the agent runs with (defaults applied, localint compiled); validateLBNodeAgent
// lists what is wrong with it.
import { INTERFACE_PATTERN } from './names.ts';
import { describeObject, type Problem } from './validation.ts';

export const DEFAULT_EXTLBINT = 'kube-lb0';
/** Linux interface names: 1-15 characters without whitespace, '/', ':' or quotes. */
const IFNAME = new RegExp(INTERFACE_PATTERN);

export interface NodeAgentConfig {
  /** "default" = the interface of the lowest-metric default route per family; otherwise a name regex. */
  localint: 'default' | RegExp;
  extlbint: string;
  sendgarp: boolean;
}

export const DEFAULT_NODE_AGENT_CONFIG: NodeAgentConfig = {
  localint: 'default',
  extlbint: DEFAULT_EXTLBINT,
  sendgarp: false,
};

interface LBNodeAgentWire {
  kind?: unknown;
  metadata?: { name?: string; namespace?: string };
  spec?: { local?: { localint?: unknown; extlbint?: unknown; sendgarp?: unknown } };
}

export function parseLBNodeAgent(obj: unknown): { config: NodeAgentConfig; problems: Problem[] } {
  const o = (obj ?? {}) as LBNodeAgentWire;
  const object = describeObject('LBNodeAgent', o.metadata?.namespace, o.metadata?.name);
  const problems: Problem[] = [];
  const local = o.spec?.local ?? {};
  const config: NodeAgentConfig = { ...DEFAULT_NODE_AGENT_CONFIG };

  if (local.localint !== undefined && local.localint !== 'default') {
    if (typeof local.localint !== 'string' || local.localint === '') {
      problems.push({
        object,
        field: 'spec.local.localint',
        message: `must be "default" or a regular expression over interface names, got ${JSON.stringify(local.localint)}`,
      });
    } else {
      try {
        config.localint = new RegExp(local.localint);
      } catch (err) {
        problems.push({
          object,
          field: 'spec.local.localint',
          message: `${JSON.stringify(local.localint)} is not a valid regular expression (${(err as Error).message}); write "default" or e.g. "^eth[0-9]+$"`,
        });
      }
    }
  }
  if (local.extlbint !== undefined) {
    if (typeof local.extlbint !== 'string' || !IFNAME.test(local.extlbint)) {
      problems.push({
        object,
        field: 'spec.local.extlbint',
        message: `must be a Linux interface name of 1-15 characters [A-Za-z0-9_.-], got ${JSON.stringify(local.extlbint)}; the default is "${DEFAULT_EXTLBINT}"`,
      });
    } else {
      config.extlbint = local.extlbint;
    }
  }
  if (local.sendgarp !== undefined) {
    if (typeof local.sendgarp !== 'boolean') {
      problems.push({
        object,
        field: 'spec.local.sendgarp',
        message: `must be true or false, got ${JSON.stringify(local.sendgarp)}`,
      });
    } else {
      config.sendgarp = local.sendgarp;
    }
  }
  return { config, problems };
}

export const validateLBNodeAgent = (obj: unknown): Problem[] => parseLBNodeAgent(obj).problems;
