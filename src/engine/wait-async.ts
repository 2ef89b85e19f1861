// Atomics.waitAsync, which Node 20 has but TypeScript's ES2022 library does
// not declare: how the main thread waits on a shared word without blocking
// its event loop.

type WaitAsync = (array: Int32Array, index: number, value: number) => { async: false; value: string } | { async: true; value: Promise<string> };

export const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;
