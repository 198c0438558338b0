import mqtt, { type MqttClient } from 'mqtt';

/** MQTT.js options of a test device at the edge: the client id is its user name, no reconnects. */
export function deviceOptions(
  clientId: string,
  password: string,
  options: mqtt.IClientOptions = {},
): mqtt.IClientOptions {
  return {
    clientId,
    username: clientId,
    password,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ...options,
  };
}

/** A device connected to the edge's MQTT listener on `port` (CONNACK 0, or the promise rejects). */
export function connectDevice(
  port: number,
  clientId: string,
  password: string,
  options: mqtt.IClientOptions = {},
): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, deviceOptions(clientId, password, options));
}
