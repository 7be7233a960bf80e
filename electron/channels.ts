/**
 * The IPC channel names between Berth Desktop's preload and main process. The sandboxed preload
 * cannot import this file (it may only require `electron`), so it repeats the two strings; a unit
 * test checks the compiled preload still says the same.
 */
export const INVOKE_CHANNEL = 'berth:invoke';
export const OPEN_CHANNEL = 'berth:open';

/** What a stream's MessagePort carries from main to the renderer. */
export type PortMessage = { t: 'data'; data: unknown } | { t: 'end'; error?: { message: string; status: number } };
/** What it carries from the renderer to main. */
export type PortInput = { t: 'input'; data: unknown } | { t: 'close' };
