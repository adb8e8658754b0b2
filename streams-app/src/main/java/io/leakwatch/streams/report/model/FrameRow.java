package io.leakwatch.streams.report.model;

import com.fasterxml.jackson.annotation.JsonIgnore;

/**
 * One frame of a stack, allocation site first.
 *
 * @param function null when the module has no symbol for it
 * @param offset in the function when it is known, else in the module
 * @param file null without debug info
 * @param line null without debug info
 * @param inlined a call the compiler inlined into the next frame (no offset of its own; never part
 *     of the stack's identity)
 * @param display {@code module!function+0xoffset}, the stack's identity
 */
public record FrameRow(
    String module,
    String function,
    long offset,
    String file,
    Integer line,
    boolean inlined,
    long moduleOffset,
    String buildId,
    String display) {

  /** {@code file:line}, or null without debug info. */
  @JsonIgnore
  public String source() {
    if (file == null) return null;
    return line == null || line <= 0 ? file : file + ":" + line;
  }
}
