/**
 * The gateway's remote-routing switches, read once when the Catchment starts. Both feature flags
 * must be on for any query to leave the Catchment; the canary list narrows who may. A value that
 * does not parse stops startup naming the variable: silently keeping a default (what the prior art
 * did) would route, or not route, a fleet's traffic on a typo.
 */
import { z } from 'zod/v4';
import { PRINCIPAL_NAME_PATTERN } from '../../shared/ids.js';

/** Who may be routed remotely; `null` means everyone. Names are lower-cased. */
export interface CanaryAudience {
  principals: ReadonlySet<string>;
  groups: ReadonlySet<string>;
}

export interface RemoteRoutingFlags {
  /** FEATURE_REMOTE_ROUTING and FEATURE_INTERNAL_GRPC both on. */
  enabled: boolean;
  featureRemoteRouting: boolean;
  featureInternalGrpc: boolean;
  canary: CanaryAudience | null;
}

export class RemoteFlagError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'RemoteFlagError';
  }
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

/** The one grammar of on/off settings: 1/0, true/false, yes/no, on/off (unset or empty: off); null when none. */
export function parseSwitch(raw: string | undefined): boolean | null {
  const value = (raw ?? '').trim().toLowerCase();
  if (value === '' || FALSE.has(value)) return false;
  return TRUE.has(value) ? true : null;
}

export const SWITCH_RULE = 'use 1/0, true/false, yes/no or on/off';

const switchSchema = z
  .string()
  .transform((raw, ctx) => {
    const value = parseSwitch(raw);
    if (value !== null) return value;
    ctx.addIssue({ code: 'custom', message: `"${raw}" is not a switch value (${SWITCH_RULE})` });
    return z.NEVER;
  })
  .optional()
  .transform((v) => v ?? false);

const canarySchema = z
  .string()
  .optional()
  .transform((raw, ctx): CanaryAudience | null => {
    const entries = (raw ?? '')
      .split(',')
      .map((e) => e.trim())
      .filter((e) => e !== '');
    if (entries.length === 0) return null;
    const principals = new Set<string>();
    const groups = new Set<string>();
    for (const entry of entries) {
      const isGroup = entry.toLowerCase().startsWith('group:');
      const name = isGroup ? entry.slice('group:'.length) : entry;
      if (!PRINCIPAL_NAME_PATTERN.test(name)) {
        ctx.addIssue({
          code: 'custom',
          message: `"${entry}" is neither a principal name nor group:NAME`,
        });
        return z.NEVER;
      }
      (isGroup ? groups : principals).add(name.toLowerCase());
    }
    return { principals, groups };
  });

/** Reads the flags from `env`; throws a RemoteFlagError naming the first bad variable. */
export function readRemoteRoutingFlags(
  env: Readonly<Record<string, string | undefined>>,
): RemoteRoutingFlags {
  const read = <T>(variable: string, schema: z.ZodType<T>): T => {
    const parsed = schema.safeParse(env[variable]);
    if (!parsed.success)
      throw new RemoteFlagError(variable, parsed.error.issues[0]?.message ?? 'invalid value');
    return parsed.data;
  };
  const featureRemoteRouting = read('FEATURE_REMOTE_ROUTING', switchSchema);
  const featureInternalGrpc = read('FEATURE_INTERNAL_GRPC', switchSchema);
  const canary = read('REMOTE_CANARY_USERS', canarySchema);
  return {
    enabled: featureRemoteRouting && featureInternalGrpc,
    featureRemoteRouting,
    featureInternalGrpc,
    canary,
  };
}

/** Whether `principal` is in the canary audience; `isMember` answers nested group membership. */
export function inCanary(
  audience: CanaryAudience | null,
  principal: string,
  isMember: (principal: string, group: string) => boolean,
): boolean {
  if (audience === null) return true;
  if (audience.principals.has(principal.toLowerCase())) return true;
  for (const group of audience.groups) if (isMember(principal, group)) return true;
  return false;
}
