/**
 * A loopback TCP proxy in front of a PostgreSQL server that a test can take down and bring
 * back: down closes every connection through it and refuses new ones (ECONNREFUSED), as a
 * stopped server does, without touching the server other tests share.
 */
export interface TcpProxy {
  port: number;
  /** The URL `target` with its host and port replaced by the proxy's. */
  url(target: string): string;
  down(): void;
  up(): void;
  close(): void;
}

export function startTcpProxy(targetPort: number, targetHost = "127.0.0.1"): TcpProxy {
  let listener: Deno.Listener | undefined;
  let port = 0;
  const open = new Set<Deno.Conn>();

  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    try {
      await from.readable.pipeTo(to.writable);
    } catch { /* either side closed */ }
    for (const c of [from, to]) {
      try {
        c.close();
      } catch { /* already closed */ }
      open.delete(c);
    }
  };

  const listen = () => {
    // The same port each time: the pool under test keeps its URL.
    const l = listener = Deno.listen({ hostname: "127.0.0.1", port });
    port = (l.addr as Deno.NetAddr).port;
    (async () => {
      try {
        for await (const client of l) {
          open.add(client);
          Deno.connect({ hostname: targetHost, port: targetPort }).then((server) => {
            open.add(server);
            void pipe(client, server);
            void pipe(server, client);
          }, () => client.close());
        }
      } catch { /* listener closed */ }
    })();
  };

  const down = () => {
    listener?.close();
    listener = undefined;
    for (const c of open) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    open.clear();
  };

  listen();
  return {
    port,
    url: (target) => {
      const u = new URL(target);
      u.hostname = "127.0.0.1";
      u.port = String(port);
      return u.toString();
    },
    down,
    up: () => {
      if (!listener) listen();
    },
    close: down,
  };
}
