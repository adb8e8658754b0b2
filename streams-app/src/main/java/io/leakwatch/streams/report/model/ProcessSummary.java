package io.leakwatch.streams.report.model;

/**
 * One line of the process list (/api/processes, the overview page, the metrics' top-k): what a
 * process holds in total, without its stacks.
 *
 * @param exitedAtMs 0 while it runs
 * @param mode "exact" or "sampled"
 */
public record ProcessSummary(
    String host,
    int pid,
    String name,
    boolean exited,
    long exitedAtMs,
    String mode,
    long lostEvents,
    long outstandingBytes) {}
