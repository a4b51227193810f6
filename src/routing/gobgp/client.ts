// A typed-enough gRPC client for gobgpd 3.x, loading GoBGP's own .proto files from the Debian package
// (golang-github-osrg-gobgp-dev) at run time; they are never copied into this repository. attribute.proto
// must be loaded together with gobgp.proto, or the Any payloads (IPAddressPrefix, ...) cannot be packed.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const GOBGP_PROTO_DIR = process.env.PURELB_GOBGP_PROTO_DIR ?? '/usr/share/gocode/src/github.com/osrg/gobgp/api';

type Obj = Record<string, unknown>;
type Unary = (req: Obj, opts: { deadline: number }, cb: (err: grpc.ServiceError | null, res: Obj) => void) => void;
type Stream = (req: Obj, opts: { deadline: number }) => grpc.ClientReadableStream<Obj>;
type ClientStream = (
  opts: { deadline: number },
  cb: (err: grpc.ServiceError | null, res: Obj) => void,
) => grpc.ClientWritableStream<Obj>;

let ctor: grpc.ServiceClientConstructor | undefined;
function serviceConstructor(): grpc.ServiceClientConstructor {
  if (!ctor) {
    const def = protoLoader.loadSync(['gobgp.proto', 'attribute.proto', 'capability.proto'], {
      includeDirs: [GOBGP_PROTO_DIR],
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
      json: true,
    });
    const apipb = grpc.loadPackageDefinition(def).apipb as { GobgpApi?: grpc.ServiceClientConstructor } | undefined;
    if (!apipb?.GobgpApi)
      throw new Error(`no apipb.GobgpApi in ${GOBGP_PROTO_DIR}/gobgp.proto: GoBGP 3.x protos are required`);
    ctor = apipb.GobgpApi;
  }
  return ctor;
}

export class GobgpClient {
  readonly #client: grpc.Client & Record<string, unknown>;
  readonly #timeoutMs: number;

  /** target e.g. "unix:///run/purelb/gobgp/gobgp.sock" */
  constructor(target: string, timeoutMs = 10_000) {
    const Ctor = serviceConstructor();
    this.#client = new Ctor(target, grpc.credentials.createInsecure());
    this.#timeoutMs = timeoutMs;
  }

  #deadline() {
    return { deadline: Date.now() + this.#timeoutMs };
  }

  call<T = Obj>(method: string, req: Obj = {}): Promise<T> {
    const fn = this.#client[method] as Unary;
    return new Promise((resolve, reject) => {
      fn.call(this.#client, req, this.#deadline(), (err, res) =>
        err ? reject(new Error(`GoBGP ${method}: ${err.details || err.message}`)) : resolve(res as T),
      );
    });
  }

  /** Collects a server stream (ListPeer, ListPath). */
  list<T = Obj>(method: string, req: Obj = {}): Promise<T[]> {
    const fn = this.#client[method] as Stream;
    return new Promise((resolve, reject) => {
      const out: T[] = [];
      const stream = fn.call(this.#client, req, this.#deadline());
      stream.on('data', (d: T) => out.push(d));
      stream.on('error', (err: grpc.ServiceError) =>
        reject(new Error(`GoBGP ${method}: ${err.details || err.message}`)),
      );
      stream.on('end', () => resolve(out));
    });
  }

  /** Sends many requests on one client stream (AddPathStream). */
  send(method: string, reqs: Obj[]): Promise<void> {
    const fn = this.#client[method] as ClientStream;
    return new Promise((resolve, reject) => {
      const stream = fn.call(this.#client, this.#deadline(), (err) =>
        err ? reject(new Error(`GoBGP ${method}: ${err.details || err.message}`)) : resolve(),
      );
      for (const r of reqs) stream.write(r);
      stream.end();
    });
  }

  close(): void {
    this.#client.close();
  }
}
