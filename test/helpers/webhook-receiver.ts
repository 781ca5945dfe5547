import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhookSignature } from '../../packages/gateway/src/notify/webhook.js';
import type { Json } from './gateway-process.js';

/** One delivery as the receiver saw it: its path, its body, and whether `Countersign-Signature` verified with the secret. */
export interface ReceivedDelivery {
  readonly path: string;
  readonly body: Json;
  readonly signed: boolean;
}

export interface WebhookReceiver {
  /** `http://127.0.0.1:PORT`: append a path per webhook. */
  readonly base: string;
  readonly received: ReceivedDelivery[];
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => resolve(body));
  });
}

/** A webhook receiver on loopback that checks each delivery's signature with `secret` and answers `status(path)` (200 unless told). */
export async function startWebhookReceiver(secret: string, status: (path: string) => number = () => 200): Promise<WebhookReceiver> {
  const received: ReceivedDelivery[] = [];
  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const signature = req.headers['countersign-signature'];
      const path = req.url ?? '';
      received.push({ path, body: JSON.parse(body) as Json, signed: verifyWebhookSignature(typeof signature === 'string' ? signature : undefined, body, secret, Math.floor(Date.now() / 1000)) });
      res.writeHead(status(path)).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
