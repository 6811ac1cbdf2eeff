/**
 * The worker's Duck launcher with real Duck processes: one per line, replaced on a second launch,
 * refused for a malformed line, and all ended by a drain after which nothing launches. The Ducks
 * dial a server that accepts and never answers, so they stay up until told otherwise.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckLauncher } from '../../../src/compute/worker/duck-launcher.js';
import { removeDir, tempDir, waitFor } from '../../support/runtime.js';

let work: string;
let silent: http.Server;
let url: string;
const held: http.ServerResponse[] = [];

beforeAll(async () => {
  work = await tempDir('duck-launcher');
  silent = http.createServer((_req, res) => {
    held.push(res);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of held) res.destroy();
  silent.closeAllConnections();
  await new Promise((resolve) => silent.close(resolve));
  await removeDir(work);
});

describe('DuckLauncher', () => {
  it('runs one Duck per line, replaces it on relaunch, and ends every Duck on drain', async () => {
    const launcher = new DuckLauncher({ dataDir: path.join(work, 'data') });
    await expect(launcher.launch('Bad Line', url, 't')).rejects.toThrow(/is not a line/);
    await expect(launcher.launch('sales@1', 'ftp://x', 't')).rejects.toThrow(/catchment_url/);

    const first = await launcher.launch('sales@1', url, 'token-1');
    expect(first).toMatchObject({ line: 'sales@1', state: 'running', exit: '' });
    const other = await launcher.launch('reports@1', url, 'token-2');
    // The Duck dials in (it holds a request open on the silent server).
    await waitFor('both Ducks to dial in', async () => held.length >= 2, 30_000);

    const second = await launcher.launch('sales@1', url, 'token-3');
    expect(second.pid).not.toBe(first.pid);
    expect(launcher.list().map((d) => [d.line, d.pid, d.state])).toEqual([
      ['reports@1', other.pid, 'running'],
      ['sales@1', second.pid, 'running'],
    ]);

    expect(launcher.stop('reports@1', true).state).toBe('stopping');
    await waitFor('reports to exit', async () => launcher.list()[0]!.state === 'exited');
    expect(launcher.list()[0]!.exit).toBe('SIGKILL');
    expect(() => launcher.stop('nobody@1', false)).toThrow(/no Duck of line nobody@1/);

    await launcher.close(5000);
    expect(launcher.list().every((d) => d.state === 'exited')).toBe(true);
    await expect(launcher.launch('sales@1', url, 'token-4')).rejects.toThrow(/draining/);
  });
});
