import { startListenerUnderTest } from '../helpers/listener-transports.js';
import { listenerContract } from './listener.contract.js';

listenerContract('TCP', (devices) => startListenerUnderTest({ tls: false }, devices));
