import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultProtocolPolicy } from './policy.js';
import { effectiveKeepAliveSeconds, validateClientId, validatePacket } from './validate.js';

describe('effectiveKeepAliveSeconds', () => {
  const policy = { maxKeepAliveSeconds: 300 };
  it('keeps a Keep Alive within the cap', () => assert.equal(effectiveKeepAliveSeconds(60, policy), 60));
  it('caps a long Keep Alive (SlowITe)', () => assert.equal(effectiveKeepAliveSeconds(65_535, policy), 300));
  it('gives Keep Alive 0 the cap', () => assert.equal(effectiveKeepAliveSeconds(0, policy), 300));
  it('leaves everything when the cap is off', () =>
    assert.equal(effectiveKeepAliveSeconds(0, { maxKeepAliveSeconds: 0 }), 0));
});

describe('validateClientId', () => {
  const safe = { ...defaultProtocolPolicy, clientIdCharacters: 'safe' } as const;
  it('accepts MQTT.js and mosquitto ids under the safe set', () => {
    assert.equal(validateClientId('mqttjs_3f2a9c1d', true, safe), undefined);
    assert.equal(validateClientId('mosq-AbCdEfGhIjKlMnOp', false, safe), undefined);
  });
  it('accepts any well-formed id by default (MQTT-3.1.3-5 lets a server accept any UTF-8)', () => {
    assert.equal(validateClientId('capteur/é+', true, defaultProtocolPolicy), undefined);
    assert.equal(validateClientId('clean retained', true, defaultProtocolPolicy), undefined);
  });
  it('refuses "%" under the safe set (ACL templates)', () => {
    assert.equal(validateClientId('dev%u', true, safe)?.code, 'SNT_MQTT_CLIENT_ID_REJECTED');
  });
  it('refuses control characters even under utf8', () => {
    assert.equal(
      validateClientId('dev\u0001', true, defaultProtocolPolicy)?.code,
      'SNT_MQTT_CLIENT_ID_REJECTED',
    );
  });
});

describe('validatePacket', () => {
  it('has nothing to say about acknowledgements', () => {
    assert.equal(validatePacket({ cmd: 'puback', messageId: 0 }, defaultProtocolPolicy), undefined);
  });
});
