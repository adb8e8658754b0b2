package io.leakwatch.streams.report.model;

/**
 * What one allocator module holds: DebugDiag's "top allocating modules". The module is the first
 * frame after the allocation function, or "[lost]" / "[unresolved]" / "[other modules]".
 */
public record AllocatorRow(String module, long bytes, long allocations) {}
