import { startListenerUnderTest } from '../helpers/listener-transports.js';
import { listenerContract } from './listener.contract.js';

listenerContract('TCP behind a PROXY v1 balancer', (devices) =>
  startListenerUnderTest({ tls: false, proxy: 'v1' }, devices),
);
