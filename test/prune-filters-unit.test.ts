// The prune filters every prune shares (engine/common/prune-filters.ts): Docker's time values,
// label/label! matching as dockerd's MatchKVList, and refusals before anything is touched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boolFilter, cachePrunable, matchKVList, parseCachePruneFilters, parseDockerTime, parseGoDuration, parsePruneFilters, prunable } from '../engine/common/prune-filters.js';

const NOW = Date.UTC(2024, 4, 1, 12, 0, 0);

test('Go durations as time.ParseDuration reads them', () => {
  assert.equal(parseGoDuration('9999h'), 9999 * 3_600_000);
  assert.equal(parseGoDuration('1h30m'), 90 * 60_000);
  assert.equal(parseGoDuration('1.5s'), 1500);
  assert.equal(parseGoDuration('-2m'), -120_000);
  assert.equal(parseGoDuration('300ms'), 300);
  assert.equal(parseGoDuration('2µs'), 0.002);
  assert.equal(parseGoDuration('0'), 0);
  for (const bad of ['abc', '10', 'h', '1x', '1h ', '', '.s', '1h30']) assert.equal(parseGoDuration(bad), undefined, bad);
});

test('Docker time values: durations back from now, RFC 3339 with and without zone, Unix seconds; junk refused', () => {
  assert.equal(parseDockerTime('10m', NOW), NOW - 600_000);
  assert.equal(parseDockerTime('2024-05-01T10:00:00Z', NOW), Date.UTC(2024, 4, 1, 10));
  assert.equal(parseDockerTime('2024-05-01T10:00:00.25Z', NOW), Date.UTC(2024, 4, 1, 10) + 250);
  assert.equal(parseDockerTime('2024-05-01T10:00:00+02:00', NOW), Date.UTC(2024, 4, 1, 8));
  assert.equal(parseDockerTime('2024-05-01T10:00-01:30', NOW), Date.UTC(2024, 4, 1, 11, 30));
  assert.equal(parseDockerTime('2024-05-01Z', NOW), Date.UTC(2024, 4, 1));
  const offset = new Date(NOW).getTimezoneOffset() * 60_000;
  assert.equal(parseDockerTime('2024-05-01', NOW), Date.UTC(2024, 4, 1) + offset, 'no zone: local time');
  assert.equal(parseDockerTime('2024-05-01T10', NOW), Date.UTC(2024, 4, 1, 10) + offset);
  assert.equal(parseDockerTime('2024-05-01T10:05:06.5', NOW), Date.UTC(2024, 4, 1, 10, 5, 6, 500) + offset);
  assert.equal(parseDockerTime('1714557600', NOW), 1714557600_000);
  assert.equal(parseDockerTime('1714557600.5', NOW), 1714557600_500);
  assert.equal(parseDockerTime('0', NOW), 0, '"0" is the epoch, not a zero duration');
  assert.throws(() => parseDockerTime('abc', NOW), (e: any) => e.kind === 'invalid' && /failed to parse value as time or duration: invalid seconds "abc"/.test(e.message));
  assert.throws(() => parseDockerTime('', NOW), /value is empty/);
  assert.throws(() => parseDockerTime('2024-13-01', NOW), /month out of range/);
  assert.throws(() => parseDockerTime('2024-02-30T00:00:00Z', NOW), /day out of range/);
  assert.throws(() => parseDockerTime('2024-05-01 10:00', NOW), (e: any) => e.kind === 'invalid');
});

test('prune filters: unknown keys, two untils and bad times are refused; label matches all, label! excludes only when all match', () => {
  assert.throws(() => parsePruneFilters({ dangling: ['true'] }), /invalid filter 'dangling'/);
  assert.throws(() => parsePruneFilters({ until: ['1h', '2h'] }), /more than one until filter specified/);
  assert.throws(() => parsePruneFilters({ until: ['abc'] }), (e: any) => e.kind === 'invalid');
  const f = parsePruneFilters({ until: ['1h'], label: ['temp=1'] }, undefined, NOW);
  assert.equal(f.until, NOW - 3_600_000);
  assert.ok(prunable(f, NOW - 7_200_000, { temp: '1' }));
  assert.ok(!prunable(f, NOW - 60_000, { temp: '1' }), 'created after until: kept');
  assert.ok(!prunable(f, NOW - 7_200_000, { temp: '2' }));
  assert.ok(!prunable(f, NOW - 7_200_000, null));

  const not = parsePruneFilters({ 'label!': ['keep', 'team=a'] });
  assert.ok(!prunable(not, 0, { keep: '', team: 'a' }), 'matches every label!: kept');
  assert.ok(prunable(not, 0, { keep: '' }), 'matches only some: pruned (dockerd\'s MatchKVList)');
  assert.ok(prunable(not, 0, {}));
  assert.ok(matchKVList(['a', 'b=2'], { a: 'x', b: '2' }));
  assert.ok(!matchKVList(['b=2'], { b: '3' }));
  assert.ok(matchKVList(['e='], { e: '' }), 'k= matches an empty value');
  assert.ok(!matchKVList(['toString'], {}), 'only own keys');
});

test('boolean filters take true/1/false/0 and refuse anything else or a contradiction', () => {
  assert.equal(boolFilter({}, 'dangling', true), true);
  assert.equal(boolFilter({ dangling: ['false'] }, 'dangling', true), false);
  assert.equal(boolFilter({ dangling: ['1'] }, 'dangling', false), true);
  assert.throws(() => boolFilter({ dangling: ['yes'] }, 'dangling', true), /invalid filter 'dangling=yes'/);
  assert.throws(() => boolFilter({ dangling: ['true', 'false'] }, 'dangling', true), /invalid filter/);
});

test("the build cache's filters, as BuildKit reads them: one value each, until or unused-for against the last use, its wording for bad values", () => {
  assert.throws(() => parseCachePruneFilters({ colour: ['red'] }), /invalid filter 'colour'/);
  assert.throws(() => parseCachePruneFilters({ type: ['regular', 'exec.cachemount'] }), /filters expect only one value/);
  assert.throws(() => parseCachePruneFilters({ until: ['1h'], 'unused-for': ['2h'] }), /conflicting filters: "until" and "unused-for"/);
  assert.throws(() => parseCachePruneFilters({ 'unused-for': ['yesterday-ish'] }), /"unused-for" filter expects a duration \(e\.g\., '24h'\) or a timestamp: yesterday-ish/);
  assert.throws(() => parseCachePruneFilters({ inuse: ['maybe'] }), /invalid value for filter 'inuse': maybe/);
  assert.deepEqual(parseCachePruneFilters({ label: ['a', 'b=1'] }), { label: ['a', 'b=1'], labelNot: [] }, 'labels may repeat');

  const entry = { id: 'abc123', type: 'regular', description: 'RUN make', lastUsedMs: NOW - 7_200_000, inUse: false, shared: false, parentId: 'p1' };
  const selects = (filters: Record<string, string[]>): boolean => cachePrunable(parseCachePruneFilters(filters, NOW), entry);
  assert.ok(selects({}));
  assert.ok(selects({ until: ['1h'] }), 'last used before until: pruned');
  assert.ok(!selects({ 'unused-for': ['3h'] }), 'used since: kept');
  assert.ok(!cachePrunable(parseCachePruneFilters({ until: ['2h'] }, NOW), entry), 'used exactly then: kept');
  assert.ok(selects({ id: ['abc'] }) && !selects({ id: ['bc'] }), 'id is a prefix');
  assert.ok(selects({ type: ['regular'] }) && !selects({ type: ['exec.cachemount'] }));
  assert.ok(selects({ description: ['RUN make'] }) && !selects({ description: ['RUN'] }));
  assert.ok(selects({ inuse: ['false'] }) && !selects({ inuse: ['TRUE'] }));
  assert.ok(selects({ shared: ['0'] }) && !selects({ shared: ['1'] }));
  assert.ok(selects({ private: ['false'] }) && !selects({ private: ['true'] }), 'no record is private');
  assert.ok(selects({ parent: ['p1'] }) && !selects({ parent: ['p2'] }));
  assert.ok(!selects({ label: ['team'] }), 'records carry no labels: label= selects none');
  assert.ok(selects({ 'label!': ['team'] }), 'and label!= all');
});
