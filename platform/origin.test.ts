import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mosquittoConf } from './origin.js';

const lines = (text: string) => text.split('\n');

test('mosquitto conf: the origin authenticates, keeps nothing, listens on MQTT and WebSocket', () => {
  const conf = lines(mosquittoConf({ mqttPort: 21883, wsPort: 28083, passwordFile: '/p/passwd' }));
  for (const line of [
    'allow_anonymous false',
    'password_file /p/passwd',
    'persistence false',
    'max_queued_messages 100000',
    'set_tcp_nodelay true',
    'listener 21883 127.0.0.1',
    'listener 28083 127.0.0.1',
    'protocol websockets',
    'log_dest stdout',
  ]) {
    assert.ok(conf.includes(line), line);
  }
});

test('mosquitto conf: a plain benchmark broker is anonymous, silent and MQTT only', () => {
  const conf = lines(mosquittoConf({ mqttPort: 4000, quiet: true }));
  assert.ok(conf.includes('allow_anonymous true'));
  assert.ok(conf.includes('log_dest none'));
  assert.ok(!conf.some((line) => line.startsWith('password_file')));
  assert.ok(!conf.includes('protocol websockets'));
  assert.ok(conf.includes('set_tcp_nodelay true'), 'the same delivery behaviour as the origin');
});

test('mosquitto conf: persistence where a test restarts its origin', () => {
  const conf = lines(mosquittoConf({ mqttPort: 1, passwordFile: '/x', persistenceDir: '/tmp/o' }));
  assert.ok(conf.includes('persistence true'));
  assert.ok(conf.includes('persistence_location /tmp/o/'));
});
