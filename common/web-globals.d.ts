/**
 * The web-platform globals common/ may use: Node, browsers and Electron's renderer all have them,
 * with these members. Declared here because common/ compiles without Node's types and without the
 * DOM library; add a member only when it is in both.
 */
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}

declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean });
  decode(input?: Uint8Array, options?: { stream?: boolean }): string;
}

interface AbortSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  throwIfAborted(): void;
}

declare function atob(data: string): string;
