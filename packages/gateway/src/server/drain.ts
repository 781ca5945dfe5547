import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Closes, when the drain begins, every connection that has no request in flight.
 *
 * Node's `server.close()` closes kept-alive connections between requests, but
 * not one that is open and has not yet sent a complete request: Node counts it
 * as waiting for headers and keeps it until `headersTimeout` (a minute), so a
 * client that opened a connection and sent nothing held the shutdown that
 * long. Such a connection carries nothing we have accepted; a request that is
 * in flight is still answered, and its connection closes after it.
 */
export function closeQuietConnectionsOnDrain(server: Server): { drain(): void } {
  const inFlight = new Map<Socket, number>();
  let draining = false;
  // over TLS a request's socket is the TLS socket, not the TCP one 'connection' sees: count the ones requests ride
  const opened = 'setSecureContext' in server ? 'secureConnection' : 'connection';
  server.on(opened, (socket: Socket) => {
    if (draining) {
      socket.destroy();
      return;
    }
    inFlight.set(socket, 0);
    socket.once('close', () => inFlight.delete(socket));
  });
  server.on('request', (request, response) => {
    const socket = request.socket;
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    response.once('close', () => {
      if (inFlight.has(socket)) inFlight.set(socket, Math.max(0, (inFlight.get(socket) ?? 1) - 1));
    });
  });
  return {
    drain() {
      draining = true;
      for (const [socket, requests] of inFlight) if (requests === 0) socket.destroy();
    },
  };
}
