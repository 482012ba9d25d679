// A terminal on the WebSocket door: msgpack frames, many in flight, matched by id.

import { Packr } from 'msgpackr';
import WebSocket from 'ws';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export interface WsReply {
  id: number;
  result?: any;
  error?: { code: string; message: string; field?: string };
}

export class WsClient {
  private nextId = 1;
  private readonly pending = new Map<number, (r: WsReply) => void>();
  /** Replies with id 0: answers to frames the server could not read an id from. */
  readonly orphans: WsReply[] = [];
  private orphanWaiters: Array<(r: WsReply) => void> = [];

  /** Resolves when the connection closes, from either side. */
  readonly closed: Promise<void>;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => ws.once('close', () => resolve()));
    ws.on('message', (data: Buffer) => {
      const reply = packr.unpack(data) as WsReply;
      const p = this.pending.get(reply.id);
      if (p !== undefined) {
        this.pending.delete(reply.id);
        p(reply);
      } else {
        const w = this.orphanWaiters.shift();
        if (w) w(reply);
        else this.orphans.push(reply);
      }
    });
  }

  static connect(port: number, key?: string): Promise<WsClient> {
    const headers: Record<string, string> = key === undefined ? {} : { authorization: `Bearer ${key}` };
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/ws`, { headers });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new WsClient(ws)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  request(op: string, body: unknown): Promise<WsReply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.ws.send(packr.pack({ id, op, body }));
    });
  }

  /** Sends raw bytes and waits for the next reply that matches no request. */
  raw(data: Buffer | string, binary = true): Promise<WsReply> {
    return new Promise((resolve) => {
      const o = this.orphans.shift();
      if (o) return resolve(o);
      this.orphanWaiters.push(resolve);
      this.ws.send(data, { binary });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

export function pack(value: unknown): Buffer {
  return packr.pack(value);
}
