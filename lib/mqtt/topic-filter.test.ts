import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  filterCoveredBy,
  filtersOverlap,
  levelsCovered,
  levelsMatch,
  levelsOverlap,
  topicMatchesFilter,
} from './topic-filter.js';

describe('topicMatchesFilter (§4.7.1, MQTT-4.7.2-1)', () => {
  const cases: Array<[topic: string, filter: string, matches: boolean]> = [
    ['sport/tennis/player1', 'sport/tennis/player1/#', true],
    ['sport/tennis/player1/ranking', 'sport/tennis/player1/#', true],
    ['sport', 'sport/#', true],
    ['sport/tennis', 'sport/+', true],
    ['sport', 'sport/+', false],
    ['sport/', 'sport/+', true],
    ['/finance', '+/+', true],
    ['/finance', '/+', true],
    ['/finance', '+', false],
    ['a/b/c', 'a/+/c', true],
    ['a/b/c', 'a/+', false],
    ['a', '#', true],
    ['$SYS/broker/load', '#', false],
    ['$SYS/broker/load', '+/broker/load', false],
    ['$SYS/broker/load', '$SYS/#', true],
    ['$SYS', '$SYS/#', true],
    ['a/$SYS', 'a/+', true],
    ['a/b', 'a/b/c', false],
    ['a/b/c', 'a/b', false],
  ];
  for (const [topic, filter, matches] of cases) {
    it(`"${topic}" ${matches ? 'matches' : 'does not match'} "${filter}"`, () => {
      assert.equal(topicMatchesFilter(topic, filter), matches);
    });
  }
});

describe('filterCoveredBy: a requested filter is granted only if it is a subset of the pattern', () => {
  const cases: Array<[requested: string, granted: string, covered: boolean]> = [
    ['a/b', 'a/b', true],
    ['a/b', 'a/+', true],
    ['a/+', 'a/+', true],
    ['a/+', 'a/b', false],
    ['a/#', 'a/+', false],
    ['a/+', 'a/#', true],
    ['a/b/c', 'a/#', true],
    ['a', 'a/#', true],
    ['a/#', 'a/#', true],
    ['a/#', 'a/b/#', false],
    ['a/b/#', 'a/#', true],
    ['a/#', 'a/+/#', false],
    ['a/+/#', 'a/#', true],
    ['+/b', 'a/+', false],
    ['a/+', '+/+', true],
    ['+/+', 'a/+', false],
    ['#', '#', true],
    ['#', '+/#', true],
    ['#', '+/+/#', false],
    ['a/#', 'a/+/#', false],
    ['+/#', '#', true],
    ['a', '+', true],
    ['a/b', '+', false],
    ['a', 'a/b', false],
    ['$SYS/#', '#', false],
    ['$SYS/x', '+/x', false],
    ['$SYS/x', '$SYS/+', true],
    ['$SYS/#', '$SYS/#', true],
    ['$SYS', '$SYS/#', true],
    ['a/$x', 'a/+', true],
    ['a//b', 'a/+/b', true],
    ['a//b', 'a/b', false],
  ];
  for (const [requested, granted, covered] of cases) {
    it(`"${requested}" ${covered ? 'is' : 'is not'} covered by "${granted}"`, () => {
      assert.equal(filterCoveredBy(requested, granted), covered);
    });
  }
});

/**
 * The subset check against its definition: R is covered by G iff every topic R matches, G matches.
 * Filters use the literals a, b, '' and $s; the universe of topics adds z (standing for every other
 * literal) and goes one level deeper than the deepest filter, which is enough to tell any two
 * such filters apart (deeper topics behave like that level under '#').
 */
const literals = ['a', 'b', '', '$s'];
const universeAlphabet = [...literals, 'z'];
const maxLevels = 4;

function universe(depth: number): string[][] {
  const topics: string[][] = [];
  let frontier: string[][] = [[]];
  for (let level = 1; level <= depth; level++) {
    const next: string[][] = [];
    for (const prefix of frontier) for (const letter of universeAlphabet) next.push([...prefix, letter]);
    topics.push(...next);
    frontier = next;
  }
  return topics;
}

const topics = universe(maxLevels + 1);

const filterArb = fc
  .tuple(fc.array(fc.constantFrom(...literals, '+'), { minLength: 0, maxLength: maxLevels }), fc.boolean())
  .filter(([levels, hash]) => levels.length + (hash ? 1 : 0) > 0)
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels));

function semanticallyCovered(requested: string[], granted: string[]): boolean {
  return topics.every((topic) => !levelsMatch(topic, requested) || levelsMatch(topic, granted));
}

describe('levelsCovered (property, fast-check)', () => {
  it('agrees with the definition of a filter subset over a complete topic universe', () => {
    fc.assert(
      fc.property(filterArb, filterArb, (requested, granted) => {
        assert.equal(
          levelsCovered(requested, granted),
          semanticallyCovered(requested, granted),
          `${requested.join('/')} within ${granted.join('/')}`,
        );
      }),
      { numRuns: 600 },
    );
  });

  it('is reflexive and transitive', () => {
    fc.assert(
      fc.property(filterArb, filterArb, filterArb, (a, b, c) => {
        assert.ok(levelsCovered(a, a));
        if (levelsCovered(a, b) && levelsCovered(b, c)) assert.ok(levelsCovered(a, c));
      }),
      { numRuns: 600 },
    );
  });
});

describe('filtersOverlap: some topic matches both filters', () => {
  it('answers the cases an ACL in overlap mode meets', () => {
    assert.equal(filtersOverlap('+/+', 'TopicA/#'), true);
    assert.equal(filtersOverlap('test/nosubscribe', 'TopicA/#'), false);
    assert.equal(filtersOverlap('#', 'devices/d1/#'), true);
    assert.equal(filtersOverlap('a/#', 'a'), true);
    assert.equal(filtersOverlap('a/+', 'a'), false);
    assert.equal(filtersOverlap('#', '$SYS/#'), false);
    assert.equal(filtersOverlap('+/broker', '$SYS/broker'), false);
    assert.equal(filtersOverlap('$SYS/+', '$SYS/#'), true);
  });

  it('agrees with a search for a topic matching both (property, fast-check)', () => {
    const levels = ['a', 'b', '$x', ''];
    const topics: string[][] = [[]];
    for (let length = 1; length <= 5; length++) {
      const previous = topics.filter((t) => t.length === length - 1);
      for (const t of previous) for (const level of levels) topics.push([...t, level]);
    }
    const candidates = topics.filter((t) => t.length > 0);
    const filter = fc
      .tuple(fc.array(fc.constantFrom(...levels, '+'), { minLength: 1, maxLength: 3 }), fc.boolean())
      .map(([ls, hash]) => (hash ? [...ls, '#'] : ls))
      .chain((ls) => fc.constant(ls.length === 0 ? ['#'] : ls));
    const hashOnly = fc.constant(['#']);
    fc.assert(
      fc.property(fc.oneof(filter, hashOnly), fc.oneof(filter, hashOnly), (a, b) => {
        const witness = candidates.some((t) => levelsMatch(t, a) && levelsMatch(t, b));
        assert.equal(levelsOverlap(a, b), witness, `${a.join('/')} vs ${b.join('/')}`);
      }),
      { numRuns: 2000 },
    );
  });
});
