import { startListenerUnderTest } from '../helpers/listener-transports.js';
import { listenerContract } from './listener.contract.js';

listenerContract('TLS behind a PROXY v2 balancer', (devices) =>
  startListenerUnderTest({ tls: true, proxy: 'v2' }, devices),
);
