// node:http for the components, loaded with require. An ESM import of node:http (named or default)
// builds its module namespace from every export, and the lazy WebSocket/CloseEvent/MessageEvent getters
// among them load Node's bundled undici: about 8 MiB of RSS (its 760 KB source kept in the heap, its
// code, its objects) in every process, for a WebSocket client nothing here uses. Types still come from
// `import type ... from 'node:http'`, which loads nothing.
import { createRequire } from 'node:module';

export const http = createRequire(import.meta.url)('node:http') as typeof import('node:http');
