// Metadata-only reads: asked through Accept, the apiserver sends PartialObjectMetadata (name, labels,
// annotations...) instead of whole objects, so a cache of them holds and transfers only that. A view
// of a KubeConfig that adds the header to every request it signs (API clients and watches alike).
import type { KubeConfig } from '@kubernetes/client-node';

// a LIST answers with the List form, a WATCH streams events of the single form
const AS_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
const AS_OBJECT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

export function metadataOnly(kc: KubeConfig): KubeConfig {
  const view = Object.create(kc) as KubeConfig;
  view.applySecurityAuthentication = async (context) => {
    await kc.applySecurityAuthentication(context);
    const watch = new URL(context.getUrl()).searchParams.get('watch') === 'true';
    context.setHeaderParam('Accept', watch ? AS_OBJECT : AS_LIST);
  };
  return view;
}
