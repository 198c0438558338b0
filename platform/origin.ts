import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import mqttPacket from 'mqtt-packet';
import { SentinelError } from '../lib/errors.js';
import { originCredentials, originDir, type StackConfig } from '../lib/local-platform.js';
import {
  type ManagedProcess,
  runningPid,
  startDetached,
  stopProcess,
  tcpReachable,
  waitFor,
} from './processes.js';

/**
 * The project's own origin: a Mosquitto with an MQTT listener (for origin-side applications) and a
 * WebSocket listener (where the bridge delivers), password-protected, on ports of its own. The
 * machine's Mosquitto on 1883 is never touched.
 */
/** Writes a Mosquitto password file (mosquitto_passwd) holding these accounts. */
export function writeMosquittoPasswords(
  file: string,
  accounts: ReadonlyArray<{ readonly username: string; readonly password: string }>,
): string {
  writeFileSync(file, '', { mode: 0o600 });
  for (const account of accounts) {
    const result = spawnSync('mosquitto_passwd', ['-b', file, account.username, account.password], {
      encoding: 'utf8',
    });
    if (result.status !== 0) {
      throw new SentinelError(
        'SNT_DEPENDENCY_MISSING',
        `mosquitto_passwd failed (${result.error?.message ?? result.stderr}); install the mosquitto package`,
      );
    }
  }
  chmodSync(file, 0o600);
  return file;
}

export interface MosquittoConfOptions {
  readonly mqttPort: number;
  /** A WebSocket listener too (the bridge's way in). */
  readonly wsPort?: number;
  /** Password authentication with this file; absent, anonymous clients are allowed. */
  readonly passwordFile?: string;
  /** Keep sessions and retained messages across restarts in this directory; absent, nothing is kept. */
  readonly persistenceDir?: string;
  /** No log at all (a benchmark broker); otherwise errors, warnings, notices and connections on stdout. */
  readonly quiet?: boolean;
}

/**
 * The one Mosquitto configuration of the project: the local origin, the tests' disposable origins
 * and the benchmarks' plain broker differ only in the options.
 */
export function mosquittoConf(options: MosquittoConfOptions): string {
  return [
    '# Written by MQTT Sentinel; edits are overwritten.',
    // Run as the invoking user: as root Mosquitto would otherwise switch to "mosquitto" and lose
    // access to the files of its state dir.
    `user ${userInfo().username}`,
    'per_listener_settings false',
    ...(options.passwordFile === undefined
      ? ['allow_anonymous true']
      : ['allow_anonymous false', `password_file ${options.passwordFile}`]),
    ...(options.persistenceDir === undefined
      ? ['persistence false']
      : ['persistence true', `persistence_location ${options.persistenceDir}/`]),
    // A slow subscriber must not lose QoS 1 messages to Mosquitto's default queue cap of 1,000.
    'max_queued_messages 100000',
    // Deliveries go out as they come: Nagle's algorithm against the subscriber's delayed ACKs
    // otherwise holds small messages back for up to 40 ms.
    'set_tcp_nodelay true',
    ...(options.quiet
      ? ['log_dest none']
      : [
          'log_dest stdout',
          'log_type error',
          'log_type warning',
          'log_type notice',
          'connection_messages true',
        ]),
    `listener ${options.mqttPort} 127.0.0.1`,
    'protocol mqtt',
    ...(options.wsPort === undefined ? [] : [`listener ${options.wsPort} 127.0.0.1`, 'protocol websockets']),
    '',
  ].join('\n');
}

export function originProcess(config: StackConfig): ManagedProcess {
  const dir = originDir(config);
  return {
    name: 'origin',
    command: config.mosquittoCommand,
    args: ['-c', join(dir, 'mosquitto.conf')],
    pidFile: join(dir, 'mosquitto.pid'),
    logFile: join(dir, 'mosquitto.log'),
  };
}

/** A real MQTT 3.1.1 CONNECT; true when the origin answers CONNACK 0 for these credentials. */
export function mqttConnectAccepted(
  port: number,
  username: string,
  password: string,
  timeoutMs = 2000,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('error', () => finish(false));
    parser.on('packet', (packet) => {
      if (packet.cmd === 'connack') {
        socket.write(mqttPacket.generate({ cmd: 'disconnect' }));
        finish(packet.returnCode === 0);
      }
    });
    parser.on('error', () => finish(false));
    socket.on('data', (chunk) => parser.parse(chunk));
    socket.once('connect', () => {
      socket.write(
        mqttPacket.generate({
          cmd: 'connect',
          protocolId: 'MQTT',
          protocolVersion: 4,
          clean: true,
          keepalive: 10,
          clientId: `sentinel-health-${randomBytes(4).toString('hex')}`,
          username,
          password: Buffer.from(password),
        }),
      );
    });
  });
}

export async function originHealthy(config: StackConfig): Promise<boolean> {
  const { app } = originCredentials(config);
  return (
    (await tcpReachable('127.0.0.1', config.originWsPort)) &&
    (await mqttConnectAccepted(config.originMqttPort, app.username, app.password))
  );
}

export async function startOrigin(config: StackConfig): Promise<boolean> {
  const proc = originProcess(config);
  if (runningPid(proc) !== undefined) return false;
  for (const port of [config.originMqttPort, config.originWsPort]) {
    if (await tcpReachable('127.0.0.1', port)) {
      throw new SentinelError(
        'SNT_COMPONENT_START_FAILED',
        `origin: port ${port} is taken by a process this stack did not start; set SENTINEL_ORIGIN_MQTT_PORT / SENTINEL_ORIGIN_WS_PORT`,
      );
    }
  }
  mkdirSync(originDir(config), { recursive: true });
  const { bridge, app } = originCredentials(config);
  const passwordFile = writeMosquittoPasswords(join(originDir(config), 'passwd'), [bridge, app]);
  writeFileSync(
    join(originDir(config), 'mosquitto.conf'),
    mosquittoConf({ mqttPort: config.originMqttPort, wsPort: config.originWsPort, passwordFile }),
  );
  startDetached(proc);
  await waitFor('origin mosquitto', () => originHealthy(config), {
    timeoutMs: 20_000,
    logFile: proc.logFile,
    alive: () => runningPid(proc) !== undefined,
  });
  return true;
}

export function stopOrigin(config: StackConfig): Promise<boolean> {
  return stopProcess(originProcess(config), 10_000);
}
