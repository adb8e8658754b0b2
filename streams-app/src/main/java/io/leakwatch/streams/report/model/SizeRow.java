package io.leakwatch.streams.report.model;

/** Outstanding bytes and allocations of one allocation size on one stack. */
public record SizeRow(long size, long bytes, long allocations) {}
