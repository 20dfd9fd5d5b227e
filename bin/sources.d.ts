// Types of bin/sources.js (plain JavaScript: the bin loads it before any TypeScript loader).
export declare const SOURCE_DIRS: string[];
export declare const ASSETS: string[];
export declare const FINGERPRINT_FILE: string;
export declare function sourcesFingerprint(root: string): string;
export declare function buildIsFresh(root: string): boolean;
