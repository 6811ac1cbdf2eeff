/**
 * One gRPC connection per worker endpoint, reused by every call to it. A connection belongs to an
 * endpoint *revision*: when an endpoint's URL or token changes its revision moves on, the next call
 * gets a fresh connection and the old one closes once its in-flight calls are done — no Catchment
 * restart. Deleting an endpoint evicts its connection the same way. `grpc://` is HTTP/2 cleartext,
 * `grpcs://` TLS, verified against the system roots or the CA file in DUCKSTRING_WORKER_CA_FILE.
 */
import { readFileSync } from 'node:fs';
import { type Client, createClient } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { WorkerService } from '../grpc/gen/duckstring/worker/v1/worker_pb.js';
import type { EndpointTarget } from '../topology.js';

export type WorkerClient = Client<typeof WorkerService>;

/** A leased connection to one endpoint revision; `release` when the call is over. */
export interface WorkerConnection {
  endpoint: string;
  client: WorkerClient;
  /** The call headers (the token): pass to every call, never log. */
  headers: Record<string, string>;
  release(): void;
}

export interface WorkerClientPoolOptions {
  /** PEM CA bundle trusted for grpcs:// endpoints besides the system roots. */
  ca?: string | Buffer;
  /** Largest message accepted from a worker (bytes); a bigger one fails the call. */
  readMaxBytes?: number;
}

interface Entry {
  revision: number;
  url: string;
  client: WorkerClient;
  session: Http2SessionManager;
  headers: Record<string, string>;
  inFlight: number;
  retired: boolean;
}

/** The base URL Connect dials for a `grpc(s)://host:port` endpoint URL. */
export function transportUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol !== 'grpc:' && parsed.protocol !== 'grpcs:')
    throw new Error(`endpoint URL must be grpc://host:port or grpcs://host:port`);
  if (!parsed.hostname || !parsed.port) throw new Error(`endpoint URL must name a host and a port`);
  return `${parsed.protocol === 'grpcs:' ? 'https' : 'http'}://${parsed.host}`;
}

export class WorkerClientPool {
  private readonly entries = new Map<string, Entry>();
  private readonly retiring = new Set<Entry>();

  constructor(private readonly options: WorkerClientPoolOptions = {}) {}

  /** Reads DUCKSTRING_WORKER_CA_FILE, naming the variable when the file cannot be read. */
  static fromEnv(env: Readonly<Record<string, string | undefined>>): WorkerClientPool {
    const caFile = env.DUCKSTRING_WORKER_CA_FILE?.trim();
    if (!caFile) return new WorkerClientPool();
    try {
      return new WorkerClientPool({ ca: readFileSync(caFile) });
    } catch (error) {
      throw new Error(
        `DUCKSTRING_WORKER_CA_FILE: cannot read ${caFile} (${(error as NodeJS.ErrnoException).code})`,
      );
    }
  }

  /** A connection to the endpoint's current revision (opened lazily by the first call). */
  acquire(endpoint: EndpointTarget): WorkerConnection {
    let entry = this.entries.get(endpoint.name);
    if (entry && (entry.revision !== endpoint.revision || entry.url !== endpoint.url)) {
      this.retire(entry);
      entry = undefined;
    }
    if (!entry) {
      entry = this.open(endpoint);
      this.entries.set(endpoint.name, entry);
    }
    const held = entry;
    held.inFlight += 1;
    let released = false;
    return {
      endpoint: endpoint.name,
      client: held.client,
      headers: held.headers,
      release: () => {
        if (released) return;
        released = true;
        held.inFlight -= 1;
        if (held.retired && held.inFlight === 0) this.closeEntry(held);
      },
    };
  }

  /** Drops connections to endpoints not in `names` (deleted ones); in-flight calls finish first. */
  retain(names: ReadonlySet<string>): void {
    for (const [name, entry] of this.entries) {
      if (!names.has(name)) {
        this.entries.delete(name);
        this.retire(entry);
      }
    }
  }

  /** Endpoint names with a connection (tests observe eviction through it). */
  connected(): string[] {
    return [...this.entries.keys()];
  }

  close(): void {
    for (const entry of [...this.entries.values(), ...this.retiring]) entry.session.abort();
    this.entries.clear();
    this.retiring.clear();
  }

  private open(endpoint: EndpointTarget): Entry {
    const baseUrl = transportUrl(endpoint.url);
    const nodeOptions = this.options.ca && baseUrl.startsWith('https:') ? { ca: this.options.ca } : {};
    const session = new Http2SessionManager(baseUrl, { idleConnectionTimeoutMs: 60_000 }, nodeOptions);
    const transport = createGrpcTransport({
      baseUrl,
      sessionManager: session,
      ...(this.options.readMaxBytes ? { readMaxBytes: this.options.readMaxBytes } : {}),
    });
    return {
      revision: endpoint.revision,
      url: endpoint.url,
      client: createClient(WorkerService, transport),
      session,
      headers: { authorization: `Bearer ${endpoint.token}` },
      inFlight: 0,
      retired: false,
    };
  }

  private retire(entry: Entry): void {
    entry.retired = true;
    if (entry.inFlight === 0) this.closeEntry(entry);
    else this.retiring.add(entry);
  }

  private closeEntry(entry: Entry): void {
    this.retiring.delete(entry);
    entry.session.abort();
  }
}
