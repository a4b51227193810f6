// One entry point for every purelb.io/v1 kind: the CLI (`purelb validate`), controllers and tests call
// validateObject; each kind's validator lives in its own module and registers one line below.
import { API_VERSION } from './names.ts';
import { validateLBNodeAgent } from './validate-lbnodeagent.ts';
import { validateRouterConfig } from './validate-routerconfig.ts';
import {
  parseServiceGroup,
  serviceGroupSetProblems,
  validateServiceGroup,
  type ServiceGroupConfig,
} from './validate-servicegroup.ts';
import { describeObject, type Problem } from './validation.ts';

type Validator = (obj: unknown) => Problem[];

const validators: Record<string, Validator> = {
  RouterConfig: validateRouterConfig,
  ServiceGroup: validateServiceGroup,
  LBNodeAgent: validateLBNodeAgent,
};

export const validatedKinds = (): string[] => Object.keys(validators);

/** Problems of one object of any purelb.io kind; an unknown kind or apiVersion is itself a problem. */
export function validateObject(obj: unknown): Problem[] {
  const o = (obj ?? {}) as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: string; namespace?: string } };
  const kind = typeof o.kind === 'string' ? o.kind : '';
  const object = describeObject(kind || '<no kind>', o.metadata?.namespace, o.metadata?.name);
  if (o.apiVersion !== API_VERSION) {
    return [
      {
        object,
        field: 'apiVersion',
        message: `apiVersion must be "${API_VERSION}", got ${JSON.stringify(o.apiVersion)}`,
      },
    ];
  }
  const validate = validators[kind];
  if (!validate) {
    return [
      {
        object,
        field: 'kind',
        message: `unknown kind ${JSON.stringify(o.kind)}; expected one of ${validatedKinds().join(', ')}`,
      },
    ];
  }
  return validate(obj);
}

/**
 * Problems of a set of objects (e.g. every document of `purelb validate -f a.yaml -f b.yaml`): each
 * object's own problems, then what only the set shows (ServiceGroup overlaps and duplicate names).
 */
export function validateObjects(objs: readonly unknown[]): Problem[] {
  const problems = objs.flatMap((o) => validateObject(o));
  const groups = objs
    .filter(
      (o) =>
        (o as { kind?: unknown; apiVersion?: unknown })?.kind === 'ServiceGroup' &&
        (o as { apiVersion?: unknown }).apiVersion === API_VERSION,
    )
    .map((o) => parseServiceGroup(o).config)
    .filter((c): c is ServiceGroupConfig => c !== undefined);
  return [...problems, ...serviceGroupSetProblems(groups)];
}
