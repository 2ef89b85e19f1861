import type { Element } from '@xmldom/xmldom';
import { describe, expect, it } from 'vitest';
import type { Timeline } from '../src/cli/bench.js';
import { niceTicks, representativeTimeline, toSvg } from '../src/cli/report/svg.js';
import { sampleReport } from './support/bench-report.js';
import { parseSvg } from './support/svg.js';

const byClass = (root: { getElementsByTagName(name: string): ArrayLike<Element> }, tag: string, cls: string) =>
  Array.from(root.getElementsByTagName(tag)).filter((e) => (e.getAttribute('class') ?? '').split(' ').includes(cls));

/** A policy-'group' run: one task per group, dealt round-robin to the workers' threads. */
function groupPerTaskTimeline(groups: number, workers: number): Timeline {
  const channelsPerGroup = 4;
  const tasks = Array.from({ length: groups }, (_, g) => {
    const slot = Math.floor(g / workers);
    return {
      task: g,
      groupStart: g,
      groupEnd: g + 1,
      outChannelStart: g * channelsPerGroup,
      outChannelEnd: (g + 1) * channelsPerGroup,
      batchStart: 0,
      batchEnd: 8,
      macs: 1000,
      threadId: 10 + (g % workers),
      queueWaitMs: slot,
      computeMs: 1,
      startMs: slot,
      endMs: slot + 1,
    };
  });
  return { layer: 'resnext-conv', batch: 8, groups, outChannels: groups * channelsPerGroup, workers, policy: 'group', wallMs: Math.ceil(groups / workers), tasks };
}

describe('SVG chart', () => {
  it('is well-formed XML, an <svg> with a size', () => {
    const doc = parseSvg(toSvg(sampleReport()));
    const svg = doc.documentElement!;
    expect(svg.tagName).toBe('svg');
    expect(svg.getAttribute('xmlns')).toBe('http://www.w3.org/2000/svg');
    expect(Number(svg.getAttribute('height'))).toBeGreaterThan(300);
    // The machine's name is escaped, not broken.
    expect(toSvg(sampleReport())).toContain('Test CPU &lt;fast&gt; &amp; &quot;cool&quot;');
  });

  it('holds one speedup series per groups setting, with every worker count, and the ideal line', () => {
    const report = sampleReport();
    const doc = parseSvg(toSvg(report));
    const series = byClass(doc, 'g', 'series');
    expect(series.map((g) => [g.getAttribute('data-groups'), g.getAttribute('data-policy')])).toEqual([
      ['1', 'balanced'],
      ['2', 'group'],
    ]);
    for (const g of series) {
      const groups = Number(g.getAttribute('data-groups'));
      const circles = Array.from(g.getElementsByTagName('circle'));
      const points = circles.map((c) => [Number(c.getAttribute('data-workers')), Number(c.getAttribute('data-speedup'))]);
      const expected = report.results.filter((r) => r.groups === groups).map((r) => [r.workers, Number(r.speedup!.toFixed(4))]);
      expect(points).toEqual(expected);
      expect(g.getElementsByTagName('polyline')).toHaveLength(1);
    }
    const ideal = byClass(doc, 'polyline', 'ideal');
    expect(ideal).toHaveLength(1);
    // Ideal speedup = workers up to the 2 cores, flat after: three points, the last two at the same height.
    const ys = ideal[0].getAttribute('points')!.split(' ').map((p) => Number(p.split(',')[1]));
    expect(ys).toHaveLength(3);
    expect(ys[1]).toBe(ys[2]);
    expect(ys[0]).toBeGreaterThan(ys[1]);
    expect(byClass(doc, 'rect', 'oversubscribed')).toHaveLength(1);
    const labels = Array.from(doc.getElementsByTagName('text')).map((t) => t.textContent);
    expect(labels).toContain('workers');
    expect(labels).toContain('speedup vs 1 worker');
    expect(labels).toContain('groups 2, group');
  });

  it('draws the representative run as a Gantt chart: one bar per task on its thread\'s row', () => {
    const report = sampleReport();
    const chosen = representativeTimeline(report)!;
    // Most workers that still have a core each (2), then most groups.
    expect([chosen.workers, chosen.groups, chosen.policy]).toEqual([2, 2, 'group']);
    const doc = parseSvg(toSvg(report));
    const gantt = byClass(doc, 'g', 'gantt');
    expect(gantt).toHaveLength(1);
    expect(gantt[0].getAttribute('data-workers')).toBe('2');
    const bars = byClass(gantt[0], 'rect', 'task');
    expect(bars.map((b) => [b.getAttribute('data-thread'), b.getAttribute('data-group-start'), b.getAttribute('data-start-ms'), b.getAttribute('data-end-ms')])).toEqual([
      ['7', '0', '1.000', '481.000'],
      ['8', '1', '1.500', '491.500'],
    ]);
    // Different threads, different rows.
    expect(bars[0].getAttribute('y')).not.toBe(bars[1].getAttribute('y'));
    const labels = Array.from(gantt[0].getElementsByTagName('text')).map((t) => t.textContent);
    expect(labels).toEqual(expect.arrayContaining(['worker 1', 'worker 2', 'group 0', 'group 1', 'time since the call started (ms)']));
  });

  it('the timeline legend has an entry, inside the SVG, for every colour of every group count on every worker count', () => {
    for (let groups = 1; groups <= 64; groups++) {
      for (let workers = 1; workers <= 4; workers++) {
        const report = sampleReport();
        report.timelines = [groupPerTaskTimeline(groups, workers)];
        const doc = parseSvg(toSvg(report));
        const height = Number(doc.documentElement!.getAttribute('height'));
        const gantt = byClass(doc, 'g', 'gantt')[0];
        const rects = Array.from(gantt.getElementsByTagName('rect'));
        const colours = new Set(byClass(gantt, 'rect', 'task').map((r) => r.getAttribute('fill')));
        const where = `${groups} groups on ${workers} workers`;
        for (const colour of colours) {
          const swatch = rects.find((r) => r.getAttribute('class') === null && r.getAttribute('fill') === colour);
          expect(swatch, `${where}: legend swatch for ${colour}`).toBeDefined();
          expect(Number(swatch!.getAttribute('y')) + Number(swatch!.getAttribute('height')), `${where}: swatch ${colour}`).toBeLessThanOrEqual(height);
          let label = swatch!.nextSibling!;
          while (label.nodeType !== label.ELEMENT_NODE) label = label.nextSibling!;
          expect(label.textContent, `${where}: label of ${colour}`).toMatch(/^groups? \d/);
          expect(Number((label as Element).getAttribute('y')), `${where}: label of ${colour}`).toBeLessThanOrEqual(height);
        }
        const queued = Array.from(gantt.getElementsByTagName('text')).find((t) => t.textContent === 'queued')!;
        expect(Number(queued.getAttribute('y')), `${where}: 'queued'`).toBeLessThanOrEqual(height);
      }
    }
  });

  it('without timelines or a 1-worker point it still renders, and says why a panel is empty', () => {
    const report = sampleReport();
    report.timelines = [];
    report.results = report.results.filter((r) => r.workers > 1).map((r) => ({ ...r, speedup: null, efficiency: null }));
    const doc = parseSvg(toSvg(report));
    expect(byClass(doc, 'g', 'series')).toHaveLength(0);
    expect(byClass(doc, 'g', 'gantt')).toHaveLength(0);
    expect(toSvg(report)).toContain('no speedup to plot');
  });

  it('ticks are round numbers covering the range', () => {
    expect(niceTicks(3)).toEqual([0, 1, 2, 3]);
    expect(niceTicks(2.2)).toEqual([0, 0.5, 1, 1.5, 2, 2.5]);
    expect(niceTicks(11970, 6)).toEqual([0, 2000, 4000, 6000, 8000, 10000, 12000]);
    expect(niceTicks(4.66, 5)).toEqual([0, 1, 2, 3, 4, 5]);
  });
});
