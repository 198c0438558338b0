import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RefusalCode } from './refusals.js';
import { checkTopicFilter, checkTopicName } from './topic.js';

const limits = { maxTopicBytes: 64, maxTopicLevels: 8 };

describe('checkTopicFilter (§4.7)', () => {
  const cases: Array<[string, RefusalCode | undefined]> = [
    ['sport/tennis/player1/#', undefined],
    ['sport/#', undefined],
    ['#', undefined],
    ['+', undefined],
    ['+/tennis/#', undefined],
    ['sport/+/player1', undefined],
    ['/+', undefined],
    ['+/+', undefined],
    ['$SYS/#', undefined],
    ['a//b', undefined],
    ['sport/tennis#', 'SNT_MQTT_TOPIC_FILTER_MULTI_LEVEL'],
    ['sport/tennis/#/ranking', 'SNT_MQTT_TOPIC_FILTER_MULTI_LEVEL'],
    ['##', 'SNT_MQTT_TOPIC_FILTER_MULTI_LEVEL'],
    ['sport+', 'SNT_MQTT_TOPIC_FILTER_SINGLE_LEVEL'],
    ['+sport', 'SNT_MQTT_TOPIC_FILTER_SINGLE_LEVEL'],
    ['++', 'SNT_MQTT_TOPIC_FILTER_SINGLE_LEVEL'],
    ['', 'SNT_MQTT_TOPIC_EMPTY'],
    ['a/b/c/d/e/f/g/h/i', 'SNT_MQTT_TOPIC_TOO_DEEP'],
    ['x'.repeat(65), 'SNT_MQTT_TOPIC_TOO_LONG'],
    ['é'.repeat(33), 'SNT_MQTT_TOPIC_TOO_LONG'],
  ];
  for (const [filter, code] of cases) {
    it(`"${filter.length > 20 ? `${filter.slice(0, 20)}…` : filter}" -> ${code ?? 'accepted'}`, () => {
      assert.equal(checkTopicFilter(filter, limits)?.code, code);
    });
  }
});

describe('checkTopicName', () => {
  const cases: Array<[string, RefusalCode | undefined]> = [
    ['clients/dev1/alerts', undefined],
    ['/', undefined],
    ['é'.repeat(32), undefined],
    ['a/+', 'SNT_MQTT_TOPIC_NAME_WILDCARD'],
    ['a/#', 'SNT_MQTT_TOPIC_NAME_WILDCARD'],
    ['', 'SNT_MQTT_TOPIC_EMPTY'],
  ];
  for (const [topic, code] of cases) {
    it(`"${topic}" -> ${code ?? 'accepted'}`, () => {
      assert.equal(checkTopicName(topic, limits)?.code, code);
    });
  }
});
