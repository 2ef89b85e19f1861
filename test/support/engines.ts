// Engines a test file creates as it goes, all closed when the file is done.
import { afterAll } from 'vitest';
import { GroupedConvEngine } from '../../src/index.js';

/** Call at the top of a test file: returns `engine(options)`, whose engines are closed after all its tests. */
export function closingEngines(): (options: ConstructorParameters<typeof GroupedConvEngine>[0]) => GroupedConvEngine {
  const engines: GroupedConvEngine[] = [];
  afterAll(() => Promise.all(engines.map((e) => e.close())));
  return (options) => {
    const e = new GroupedConvEngine(options);
    engines.push(e);
    return e;
  };
}
