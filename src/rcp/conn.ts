// The byte stream RCP runs over. The node edge (src/node/tcp.ts) adapts a TCP socket to
// it; tests can adapt anything else. Nothing under src/rcp imports a runtime's sockets.

export interface Conn {
  /**
   * Queues bytes; false when the queue is past its high-water mark (wait for onDrain).
   * `written` runs once the bytes have been handed to the kernel or the write failed:
   * only then may the buffer be reused.
   */
  write(bytes: Uint8Array, written?: () => void): boolean;
  /** Bytes queued and not yet handed to the kernel. */
  readonly queuedBytes: number;
  pause(): void;
  resume(): void;
  /** Sends what is queued, then closes. */
  end(): void;
  destroy(): void;
  onData(listener: (chunk: Uint8Array) => void): void;
  onDrain(listener: () => void): void;
  /** Called once, when the stream is closed for any reason. */
  onClose(listener: (error?: Error) => void): void;
  readonly remote: string;
}

/** Opens a connection to "host:port"; the RCP preamble is the caller's to send. */
export type Dial = (address: string) => Promise<Conn>;
