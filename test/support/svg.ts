import { DOMParser } from '@xmldom/xmldom';
import { expect } from 'vitest';

/** Parses an SVG strictly: any XML warning or error fails the calling test. */
export function parseSvg(svg: string) {
  const problems: string[] = [];
  const doc = new DOMParser({ onError: (level, message) => problems.push(`${level}: ${message}`) }).parseFromString(svg, 'image/svg+xml');
  expect(problems).toEqual([]);
  return doc;
}
