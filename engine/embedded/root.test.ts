/** Where `embedded: true` keeps its cluster (root.ts): one per user unless RB_EMBEDDED_ROOT says otherwise. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeEmbeddedRoot, embeddedRoot } from './root.js';

describe('embeddedRoot', () => {
  it('is per user: ~/.local/share/rb/pg', () => {
    expect(embeddedRoot({ HOME: '/home/ann' })).toEqual({ root: '/home/ann/.local/share/rb/pg', from: 'HOME' });
  });
  it('follows an absolute XDG_DATA_HOME, and ignores a relative one (the XDG rule)', () => {
    expect(embeddedRoot({ HOME: '/home/ann', XDG_DATA_HOME: '/data/ann' })).toEqual({ root: '/data/ann/rb/pg', from: 'XDG_DATA_HOME' });
    expect(embeddedRoot({ HOME: '/home/ann', XDG_DATA_HOME: 'rel/data' })).toEqual({ root: '/home/ann/.local/share/rb/pg', from: 'HOME' });
  });
  it('takes RB_EMBEDDED_ROOT first; a relative one from the working directory (a project-local cluster)', () => {
    expect(embeddedRoot({ HOME: '/home/ann', XDG_DATA_HOME: '/data/ann', RB_EMBEDDED_ROOT: '/srv/pg' })).toEqual({ root: '/srv/pg', from: 'RB_EMBEDDED_ROOT' });
    expect(embeddedRoot({ HOME: '/home/ann', RB_EMBEDDED_ROOT: '.rb/pg' })).toEqual({ root: path.resolve('.rb/pg'), from: 'RB_EMBEDDED_ROOT' });
    expect(embeddedRoot({ HOME: '/home/ann', RB_EMBEDDED_ROOT: '' }).from).toBe('HOME');
  });
  it('is described with where it came from', () => {
    expect(describeEmbeddedRoot({ root: '/home/ann/.local/share/rb/pg', from: 'HOME' })).toBe("rb's embedded cluster at /home/ann/.local/share/rb/pg (per user; RB_EMBEDDED_ROOT overrides)");
    expect(describeEmbeddedRoot({ root: '/srv/pg', from: 'RB_EMBEDDED_ROOT' })).toBe("rb's embedded cluster at /srv/pg (RB_EMBEDDED_ROOT)");
  });
  it('is never the user\'s own cluster inside the test suite (global-setup.ts sets RB_EMBEDDED_ROOT)', () => {
    expect(process.env.RB_EMBEDDED_ROOT).toBeDefined();
    expect(process.env.RB_EMBEDDED_ROOT!.startsWith(path.resolve('.rb', 'test-clusters') + path.sep)).toBe(true);
    expect(embeddedRoot().from).toBe('RB_EMBEDDED_ROOT');
  });
});
