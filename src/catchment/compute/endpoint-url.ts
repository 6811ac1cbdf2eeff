/**
 * Worker addresses: exactly `grpc://host:port` (plaintext HTTP/2) or `grpcs://host:port` (TLS). No
 * path, query, fragment or credentials: a token in a URL would be stored and shown in clear, and a
 * path would be silently ignored by the gRPC client.
 */
import { DomainError } from '../../shared/errors.js';

export class InvalidEndpointUrl extends DomainError {
  constructor(url: string, why: string) {
    super({
      code: 'invalid_request',
      httpStatus: 400,
      message: `url: "${clip(url)}" is not a worker address (${why}); use grpc://host:port or grpcs://host:port`,
    });
  }
}

export interface EndpointAddress {
  tls: boolean;
  /** Host name, IPv4 address or bracketed IPv6 address, as written. */
  host: string;
  port: number;
}

const SHAPE = /^(grpcs?):\/\/([^/?#]*)$/i;
const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Parses and checks a worker URL; InvalidEndpointUrl (400) names what is wrong. */
export function parseEndpointUrl(url: string): EndpointAddress {
  if (/[\s\0]/.test(url)) throw new InvalidEndpointUrl(url, 'it contains whitespace or control characters');
  const shape = SHAPE.exec(url);
  if (!shape) {
    if (!/^grpcs?:\/\//i.test(url)) throw new InvalidEndpointUrl(url, 'the scheme must be grpc or grpcs');
    throw new InvalidEndpointUrl(url, 'it has a path, query or fragment');
  }
  const authority = shape[2]!;
  if (authority.includes('@')) throw new InvalidEndpointUrl(url, 'it carries credentials');
  const hostPort = /^(\[[^\]]*\]|[^:[\]]+):([0-9]+)$/.exec(authority);
  if (!hostPort) throw new InvalidEndpointUrl(url, 'it needs a host and a port');
  const host = hostPort[1]!;
  const port = Number(hostPort[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535 || /^0\d/.test(hostPort[2]!))
    throw new InvalidEndpointUrl(url, 'the port must be 1–65535');
  if (!host.startsWith('[') && !HOST_NAME.test(host))
    throw new InvalidEndpointUrl(url, `"${clip(host)}" is not a host name or address`);
  if (host.startsWith('[') && !isIpv6(host.slice(1, -1)))
    throw new InvalidEndpointUrl(url, `"${clip(host)}" is not an IPv6 address`);
  return { tls: shape[1]!.toLowerCase() === 'grpcs', host, port };
}

/** The URL in its one spelling (lower-case scheme), as stored. */
export function normalizeEndpointUrl(url: string): string {
  const a = parseEndpointUrl(url);
  return `${a.tls ? 'grpcs' : 'grpc'}://${a.host}:${a.port}`;
}

function isIpv6(text: string): boolean {
  try {
    return new URL(`http://[${text}]/`).hostname.length > 0;
  } catch {
    return false;
  }
}

/** Printable, bounded, and without credentials (a URL may carry a password: it is never echoed). */
function clip(text: string): string {
  const printable = text.replace(/[^\x20-\x7e]/g, '?').replace(/\/\/[^/?#]*@/, '//***@');
  return printable.length > 200 ? `${printable.slice(0, 200)}…` : printable;
}
