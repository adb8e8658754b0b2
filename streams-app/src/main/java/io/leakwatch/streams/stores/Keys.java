package io.leakwatch.streams.stores;

/**
 * Store keys. Every key starts with the process key "host/pid/" so one prefix scan finds all of a
 * process's state; addresses, stack ids and sizes are fixed-width hex so keys sort naturally. Host
 * names never contain '/' (the collector replaces it).
 */
public final class Keys {
  private Keys() {}

  public static String process(String host, int pid) {
    return host + "/" + pid;
  }

  /**
   * A record must be keyed by the process it speaks of: the key chose its partition, and the
   * process's state lives with that partition. A mismatch (a corrupt or forged record) is refused;
   * the processing exception handler skips it, counts it and dead-letters it.
   */
  public static void requireKeyMatches(String key, String processKey) {
    if (!processKey.equals(key)) {
      throw new MisroutedRecordException(
          "record keyed '"
              + abbreviate(key)
              + "' speaks of process '"
              + abbreviate(processKey)
              + "'");
    }
  }

  private static String abbreviate(String s) {
    if (s == null) return "null";
    return s.length() > 80 ? s.substring(0, 80) + "..." : s;
  }

  /** A record whose key is not the process it describes. */
  public static final class MisroutedRecordException extends RuntimeException {
    MisroutedRecordException(String message) {
      super(message, null, false, false); // no stack trace: it is data, not a bug
    }
  }

  public static String prefix(String processKey) {
    return processKey + "/";
  }

  public static String live(String processKey, long address) {
    return processKey + "/" + hex16(address);
  }

  /** Mappings (kind mmap) live under "m/" so an unmap can scan just them, in address order. */
  public static String liveMapping(String processKey, long address) {
    return processKey + "/m/" + hex16(address);
  }

  public static String mappingPrefix(String processKey) {
    return processKey + "/m/";
  }

  public static String outstanding(String processKey, int kind, long stackId, long size) {
    return processKey + "/" + kind + "/" + hex16(stackId) + "/" + hex16(size);
  }

  public static String trend(String processKey, String stackIdHex) {
    return processKey + "/" + stackIdHex;
  }

  /** The parts of an outstanding key after the process prefix: kind, stack id (hex), size. */
  public record OutstandingKey(int kind, String stackId, long size) {}

  public static OutstandingKey parseOutstanding(String key) {
    String[] parts = key.split("/");
    int n = parts.length;
    if (n < 5) throw new IllegalArgumentException("not an outstanding key: " + key);
    return new OutstandingKey(
        Integer.parseInt(parts[n - 3]), parts[n - 2], Long.parseUnsignedLong(parts[n - 1], 16));
  }

  private static final char[] HEX = "0123456789abcdef".toCharArray();

  /** Sixteen lower-case hex digits (keys sort by address); on the hot path of every event. */
  public static String hex16(long v) {
    char[] c = new char[16];
    for (int i = 15; i >= 0; i--) {
      c[i] = HEX[(int) (v & 0xf)];
      v >>>= 4;
    }
    return new String(c);
  }
}
