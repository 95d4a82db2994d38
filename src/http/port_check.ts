/**
 * A busy or forbidden port found before anything is written: `serve` checks it before the
 * database is opened (and so before the first admin's one-time password is printed), the demo
 * before it touches its data folder. Deno.serve would otherwise fail later, with a stack trace
 * that does not name the port.
 */
export class PortUnavailableError extends Error {}

/**
 * Binds the address for a moment and lets go. Another process may take the port in between;
 * that rare race ends with Deno.serve's own error, as before. Port 0 (pick one) always passes.
 */
export function assertPortFree(hostname: string, port: number): void {
  if (port === 0) return;
  let listener: Deno.Listener;
  try {
    listener = Deno.listen({ hostname, port, transport: "tcp" });
  } catch (err) {
    const why = err instanceof Deno.errors.AddrInUse
      ? "is already in use by another program"
      : err instanceof Deno.errors.PermissionDenied
      ? "may not be opened by this user (ports below 1024 need privileges)"
      : `cannot be opened (${(err as Error).message})`;
    throw new PortUnavailableError(
      `port ${port} on ${hostname} ${why}; choose another with --port or DHIS2GW_SERVER_PORT`,
    );
  }
  listener.close();
}
