export { handleConnect } from './connect.js';
export { handlePublish } from './publish.js';
export { handleSubscribe, handleUnsubscribe } from './subscribe.js';
export { publishWill } from './will.js';
