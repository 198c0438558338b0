import { startListenerUnderTest } from '../helpers/listener-transports.js';
import { listenerContract } from './listener.contract.js';

listenerContract('TCP behind a PROXY v2 balancer', (devices) =>
  startListenerUnderTest({ tls: false, proxy: 'v2' }, devices),
);
