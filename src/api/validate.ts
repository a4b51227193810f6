// One entry point for every purelb.io/v1 kind: the CLI (`purelb validate`), controllers and tests call
// validateObject; each kind's validator lives in its own module and registers one line below.
import { validateRouterConfig } from './validate-routerconfig.ts';
import { describeObject, type Problem } from './validation.ts';

type Validator = (obj: unknown) => Problem[];

const validators: Record<string, Validator> = {
  RouterConfig: validateRouterConfig,
};

export const validatedKinds = (): string[] => Object.keys(validators);

/** Problems of one object of any purelb.io kind; an unknown kind or apiVersion is itself a problem. */
export function validateObject(obj: unknown): Problem[] {
  const o = (obj ?? {}) as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: string; namespace?: string } };
  const kind = typeof o.kind === 'string' ? o.kind : '';
  const object = describeObject(kind || '<no kind>', o.metadata?.namespace, o.metadata?.name);
  if (o.apiVersion !== 'purelb.io/v1') {
    return [{ object, field: 'apiVersion', message: `apiVersion must be "purelb.io/v1", got ${JSON.stringify(o.apiVersion)}` }];
  }
  const validate = validators[kind];
  if (!validate) {
    return [{ object, field: 'kind', message: `unknown kind ${JSON.stringify(o.kind)}; expected one of ${validatedKinds().join(', ')}` }];
  }
  return validate(obj);
}
