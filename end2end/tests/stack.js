// A server (and optionally a producer daemon) of its own for tests and benchmarks that need to
// restart it or drive it hard, on the broker and with the binaries that .ci/e2e names.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ADMIN_TOKEN = 'own-stack-admin-token-0123456789';

export class OwnStack {
  // `env`: more settings for every process it starts (the producer's included).
  constructor({ port, producerEnv = {}, env = {} }) {
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.dataDir = mkdtempSync(join(tmpdir(), 'streamhub-own-stack-'));
    this.env = {
      ...process.env,
      STREAMHUB_ADDR: `127.0.0.1:${port}`,
      STREAMHUB_API_URL: this.url,
      STREAMHUB_DATA_DIR: this.dataDir,
      STREAMHUB_SITE_DIR: process.env.STREAMHUB_E2E_SITE_DIR,
      KAFKA_BOOTSTRAP_SERVERS: process.env.STREAMHUB_E2E_BOOTSTRAP,
      ADMIN_TOKEN,
      PRODUCER_SECRET: 'own-stack-producer-secret-0123456789',
      PRODUCER_POLL_INTERVAL_MS: '500',
      STREAMHUB_RATES_INTERVAL_SECS: '1',
      RUST_LOG: process.env.RUST_LOG ?? 'warn',
      ...producerEnv,
      ...env,
    };
  }

  spawn(binary, extraEnv = {}) {
    return spawn(join(process.env.STREAMHUB_E2E_BIN_DIR, binary), [], {
      env: { ...this.env, ...extraEnv }, stdio: ['ignore', 'inherit', 'inherit'],
    });
  }

  async startServer() {
    this.server = this.spawn('streamhub');
    for (let i = 0; i < 150; i += 1) {
      try {
        if ((await fetch(`${this.url}/api/health`)).ok) return;
      } catch { /* not up yet */ }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the server did not start');
  }

  async stopServer() {
    const exited = new Promise((r) => this.server.once('exit', r));
    this.server.kill('SIGTERM');
    await exited;
  }

  startProducer(extraEnv = {}) {
    this.producer = this.spawn('streamhub-producer', extraEnv);
    return this.producer;
  }

  // REST as the admin (bearer token).
  async admin(method, path, body) {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: body && JSON.stringify(body),
    });
    return [res.status, await res.json()];
  }

  stop() {
    this.producer?.kill('SIGTERM');
    this.server?.kill('SIGTERM');
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
