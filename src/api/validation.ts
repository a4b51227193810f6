// The result shape shared by every validator in src/api (ServiceGroup, LBNodeAgent, RouterConfig).
// Controllers turn problems into events/conditions, the CLI prints them, tests assert on them.

export interface Problem {
  /** e.g. "ServiceGroup purelb/localaddrange" */
  object: string;
  /** JSON path of the offending field, e.g. "spec.local.v4pools[1].pool" */
  field: string;
  /** What is wrong and how to fix it, e.g. 'range start 10.0.0.9 is after its end 10.0.0.1; write "from-to" with from <= to' */
  message: string;
}

export const describeObject = (kind: string, namespace: string | undefined, name: string | undefined) =>
  `${kind} ${namespace ? `${namespace}/` : ''}${name ?? '<unnamed>'}`;

export const formatProblem = (p: Problem) => `${p.object}: ${p.field}: ${p.message}`;
