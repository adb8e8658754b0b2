package io.leakwatch.streams.report.model;

/**
 * One frame of a stack, allocation site first.
 *
 * @param function null when the module has no symbol for it
 * @param offset in the function when it is known, else in the module
 * @param file null without debug info
 * @param line null without debug info
 * @param display {@code module!function+0xoffset}, the stack's identity
 */
public record FrameRow(
    String module,
    String function,
    long offset,
    String file,
    Integer line,
    long moduleOffset,
    String buildId,
    String display) {}
