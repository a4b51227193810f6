// `kubectl apply` for the lab: server-side apply of plain objects (CRDs, deploy/purelb defaults,
// samples) with one field manager.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  KubernetesObjectApi,
  PatchStrategy,
  loadAllYaml,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { apiMessage, retryBusy } from '../k8s/api.ts';

export const FIELD_MANAGER = 'purelb-lab';

/** Every document of every *.yaml file in `dir` (sorted by file name), skipping empty ones. loadAllYaml maps
 * wire names (x-kubernetes-*) onto the typed models the client serialises from. */
export function loadYamlDir(dir: string): KubernetesObject[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => loadAllYaml(readFileSync(join(dir, f), 'utf8')) as (KubernetesObject | null)[])
    .filter((d): d is KubernetesObject => d !== null && typeof d === 'object' && typeof d.kind === 'string');
}

export async function applyObjects(kc: KubeConfig, objects: KubernetesObject[]): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const obj of objects) {
    try {
      await retryBusy(() => api.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply));
    } catch (err) {
      const m = obj.metadata;
      throw new Error(`applying ${obj.kind} ${m?.namespace ? `${m.namespace}/` : ''}${m?.name}: ${apiMessage(err)}`, {
        cause: err,
      });
    }
  }
}

export async function deleteObjects(kc: KubeConfig, objects: KubernetesObject[]): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const obj of objects) {
    try {
      await api.delete(obj);
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
  }
}

/** The apiserver's own message from a client-node ApiException (its text embeds headers and JSON). */

/** Creates objects that server-side apply cannot express (a Node with two InternalIPs); existing ones are kept. */
export async function createObjects(kc: KubeConfig, objects: KubernetesObject[]): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const obj of objects) {
    try {
      await retryBusy(() => api.create(obj));
    } catch (err) {
      if ((err as { code?: number }).code !== 409)
        throw new Error(`creating ${obj.kind} ${obj.metadata?.name}: ${apiMessage(err)}`, { cause: err });
    }
  }
}
