export declare const ENTRY_POINTS: Array<{ in: string; out: string }>;
export declare function packageOf(spec: string): string;
/** Compiles rb into `<root>/dist` (root: the package root, default the one this file is in). */
export declare function buildJs(opts?: { quiet?: boolean; root?: string }): Promise<void>;
