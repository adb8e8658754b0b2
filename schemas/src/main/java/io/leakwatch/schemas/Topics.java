package io.leakwatch.schemas;

/**
 * Topic names and key forms: the contract between collectors and the streams-app (docs/records.md).
 */
public final class Topics {
  /** ProcessMessage (event batches and lifecycle), keyed by {@link #processKey}. */
  public static final String EVENTS = "leakwatch.events";

  /** StackDefinition, keyed by stack id; compacted. */
  public static final String STACKS = "leakwatch.stacks";

  /** CounterSample, keyed by {@link #processKey}. */
  public static final String COUNTERS = "leakwatch.counters";

  /** ExitReport, keyed by {@link #processKey}; compacted. */
  public static final String EXIT_REPORTS = "leakwatch.exit-reports";

  private Topics() {}

  /** "host/pid": both halves of every allocation/free pair of a process land in one partition. */
  public static String processKey(String host, int pid) {
    return host + "/" + pid;
  }

  /** Stack ids travel as longs in events and as 16 hex digits everywhere people see them. */
  public static String stackIdHex(long id) {
    return String.format("%016x", id);
  }
}
