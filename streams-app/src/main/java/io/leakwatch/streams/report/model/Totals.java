package io.leakwatch.streams.report.model;

/** Outstanding bytes and allocations (estimates when sampled, rounded). */
public record Totals(long bytes, long allocations) {}
