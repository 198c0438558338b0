import { startListenerUnderTest } from '../helpers/listener-transports.js';
import { listenerContract } from './listener.contract.js';

listenerContract('TLS', (devices) => startListenerUnderTest({ tls: true }, devices));
