package io.leakwatch.streams.stores;

/**
 * Names of the state stores (and so of their changelog topics): part of the app's upgrade contract.
 */
public final class StoreNames {
  /** host/pid/address → LiveAllocation: recorded allocations not yet freed. */
  public static final String LIVE = "live-allocations";

  /** host/pid/kind/stack/size → Outstanding: the pre-aggregated view reports and metrics read. */
  public static final String OUTSTANDING = "outstanding";

  /** host/pid → ProcessState. */
  public static final String PROCESSES = "processes";

  /** host/pid → CounterSample, the latest. */
  public static final String COUNTERS = "process-counters";

  /** host/pid → report snapshot JSON of what the process held at exit. */
  public static final String EXIT_REPORTS = "exit-reports";

  /** stack id → StackDefinition, a global store fed by the compacted stacks topic. */
  public static final String STACKS = "stack-definitions";

  /** host/pid/stack -> StackTrend: outstanding bytes per recent window, for the leak score. */
  public static final String TRENDS = "stack-trends";

  private StoreNames() {}
}
