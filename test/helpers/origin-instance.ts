import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { OriginCredentials } from '../../lib/local-platform.js';
import { mosquittoConf, mqttConnectAccepted, writeMosquittoPasswords } from '../../platform/origin.js';
import { freePort, tcpReachable } from '../../platform/processes.js';

/**
 * A Mosquitto of the test's own, configured like the platform's origin (MQTT and WebSocket listeners,
 * password auth) on free ports in a temp dir, which the test may stop and start at will. Persistence
 * is on, so a subscriber's persistent session and its queued QoS 1 messages survive a restart.
 */
export class OriginInstance {
  /** Created by the first start(), so an instance that never started leaves nothing behind. */
  dir = '';
  readonly credentials: OriginCredentials = {
    bridge: { username: 'bridge', password: randomBytes(12).toString('base64url') },
    app: { username: 'app', password: randomBytes(12).toString('base64url') },
  };
  mqttPort = 0;
  wsPort = 0;
  #child: ChildProcess | null = null;
  #log = '';

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.wsPort}`;
  }

  get log(): string {
    return this.#log;
  }

  async start(): Promise<void> {
    if (this.mqttPort === 0) {
      this.dir = mkdtempSync(join(tmpdir(), 'sentinel-origin-'));
      this.mqttPort = await freePort();
      this.wsPort = await freePort();
      const passwordFile = writeMosquittoPasswords(join(this.dir, 'passwd'), [
        this.credentials.bridge,
        this.credentials.app,
      ]);
      writeFileSync(
        join(this.dir, 'mosquitto.conf'),
        mosquittoConf({
          mqttPort: this.mqttPort,
          wsPort: this.wsPort,
          passwordFile,
          // Restart tests need the bridge's persistent session to survive the origin going down.
          persistenceDir: this.dir,
        }),
      );
    }
    const child = spawn('mosquitto', ['-c', join(this.dir, 'mosquitto.conf')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    const collect = (chunk: Buffer) => {
      this.#log += chunk.toString();
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    const { username, password } = this.credentials.app;
    for (let i = 0; i < 100; i++) {
      if (child.exitCode !== null) throw new Error(`own mosquitto exited: ${this.#log}`);
      if (await mqttConnectAccepted(this.mqttPort, username, password, 500)) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`own mosquitto did not accept connections: ${this.#log}`);
  }

  /** SIGTERM (Mosquitto saves its persistence file) and waits for the exit. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }

  async dispose(): Promise<void> {
    await this.stop();
    if (this.dir !== '') rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * nginx from Debian as the L7 hop in front of an origin's WebSocket listener, the way a WAF or
 * Envoy sits in front of it in production: HTTP/1.1 upgrade passed through, read timeout above the
 * bridge's keep-alive. Its own prefix, pid file, logs and temp paths; runs in the foreground.
 */
export class NginxHop {
  dir = '';
  port = 0;
  #child: ChildProcess | null = null;
  #log = '';

  get accessLog(): string {
    return join(this.dir, 'access.log');
  }

  async start(upstreamPort: number): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'sentinel-nginx-'));
    this.port = await freePort();
    const d = this.dir;
    const conf = [
      'daemon off;',
      'master_process on;',
      'worker_processes 1;',
      ...(process.getuid?.() === 0 ? [`user ${userInfo().username};`] : []),
      `pid ${d}/nginx.pid;`,
      `error_log ${d}/error.log warn;`,
      'events { worker_connections 256; }',
      'http {',
      `  access_log ${d}/access.log;`,
      `  client_body_temp_path ${d}/body;`,
      `  proxy_temp_path ${d}/proxy;`,
      `  fastcgi_temp_path ${d}/fastcgi;`,
      `  uwsgi_temp_path ${d}/uwsgi;`,
      `  scgi_temp_path ${d}/scgi;`,
      '  map $http_upgrade $connection_upgrade { default upgrade; "" close; }',
      '  server {',
      `    listen 127.0.0.1:${this.port};`,
      '    location / {',
      `      proxy_pass http://127.0.0.1:${upstreamPort};`,
      '      proxy_http_version 1.1;',
      '      proxy_set_header Upgrade $http_upgrade;',
      '      proxy_set_header Connection $connection_upgrade;',
      '      proxy_set_header Host $host;',
      // Above the bridge's 30 s MQTT keep-alive, so an idle but healthy session is never cut.
      '      proxy_read_timeout 120s;',
      '      proxy_send_timeout 120s;',
      '    }',
      '  }',
      '}',
      '',
    ].join('\n');
    writeFileSync(join(d, 'nginx.conf'), conf);
    const child = spawn('nginx', ['-p', d, '-c', join(d, 'nginx.conf'), '-e', join(d, 'error.log')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    child.stderr?.on('data', (chunk: Buffer) => {
      this.#log += chunk.toString();
    });
    for (let i = 0; i < 100; i++) {
      if (child.exitCode !== null) throw new Error(`nginx exited: ${this.#log}`);
      if (await tcpReachable('127.0.0.1', this.port)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`nginx did not listen: ${this.#log}`);
  }

  async dispose(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      // QUIT: graceful; the master stops its worker and removes the pid file.
      child.kill('SIGQUIT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    if (this.dir !== '') rmSync(this.dir, { recursive: true, force: true });
  }
}
