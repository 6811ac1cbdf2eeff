import { describe, expect, it } from 'vitest';
import { inCanary, RemoteFlagError, readRemoteRoutingFlags } from '../../../src/compute/remote/flags.js';

describe('remote routing flags', () => {
  it('routes remotely only when both feature flags are on', () => {
    expect(readRemoteRoutingFlags({}).enabled).toBe(false);
    expect(readRemoteRoutingFlags({ FEATURE_REMOTE_ROUTING: 'on' }).enabled).toBe(false);
    expect(readRemoteRoutingFlags({ FEATURE_INTERNAL_GRPC: 'true' }).enabled).toBe(false);
    const both = readRemoteRoutingFlags({ FEATURE_REMOTE_ROUTING: 'Yes', FEATURE_INTERNAL_GRPC: '1' });
    expect(both).toMatchObject({ enabled: true, featureRemoteRouting: true, featureInternalGrpc: true });
    for (const off of ['0', 'false', 'NO', 'off', ' ']) {
      expect(
        readRemoteRoutingFlags({ FEATURE_REMOTE_ROUTING: off, FEATURE_INTERNAL_GRPC: '1' }).enabled,
      ).toBe(false);
    }
  });

  it('stops on a value that is not a switch, naming the variable', () => {
    expect(() => readRemoteRoutingFlags({ FEATURE_REMOTE_ROUTING: 'enabled' })).toThrow(RemoteFlagError);
    expect(() => readRemoteRoutingFlags({ FEATURE_REMOTE_ROUTING: 'enabled' })).toThrow(
      /^FEATURE_REMOTE_ROUTING: "enabled" is not a switch value/,
    );
    expect(() => readRemoteRoutingFlags({ FEATURE_INTERNAL_GRPC: '2' })).toThrow(
      /^FEATURE_INTERNAL_GRPC: "2"/,
    );
  });

  it('reads the canary list of principals and group:NAME entries; empty means everyone', () => {
    expect(readRemoteRoutingFlags({ REMOTE_CANARY_USERS: '' }).canary).toBeNull();
    expect(readRemoteRoutingFlags({ REMOTE_CANARY_USERS: ' , ' }).canary).toBeNull();
    const { canary } = readRemoteRoutingFlags({ REMOTE_CANARY_USERS: 'Alice, group:beta ,bob@example.com' });
    expect([...canary!.principals].sort()).toEqual(['alice', 'bob@example.com']);
    expect([...canary!.groups]).toEqual(['beta']);
  });

  it('stops on a malformed canary entry, naming the variable and the entry', () => {
    expect(() => readRemoteRoutingFlags({ REMOTE_CANARY_USERS: 'alice,group:' })).toThrow(
      'REMOTE_CANARY_USERS: "group:" is neither a principal name nor group:NAME',
    );
    expect(() => readRemoteRoutingFlags({ REMOTE_CANARY_USERS: 'al ice' })).toThrow(
      /REMOTE_CANARY_USERS: "al ice"/,
    );
  });

  it('admits canary principals and members of canary groups (membership as governance answers it)', () => {
    const { canary } = readRemoteRoutingFlags({ REMOTE_CANARY_USERS: 'alice,group:beta' });
    const groups: Record<string, string[]> = { carol: ['beta'], dave: ['gamma'] };
    const isMember = (p: string, g: string) => (groups[p] ?? []).includes(g);
    expect(inCanary(canary, 'ALICE', isMember)).toBe(true);
    expect(inCanary(canary, 'carol', isMember)).toBe(true);
    expect(inCanary(canary, 'dave', isMember)).toBe(false);
    expect(inCanary(null, 'dave', isMember)).toBe(true);
  });
});
