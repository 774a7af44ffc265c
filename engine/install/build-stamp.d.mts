export declare const DIST_DIR: string;
export declare const STAMP_FILE: string;
export declare const SOURCE_DIRS: string[];
export declare function sourceFiles(root: string): string[];
export declare function sourceStamp(root: string): { files: number; hash: string };
export declare function distIsCurrent(root: string): boolean;
