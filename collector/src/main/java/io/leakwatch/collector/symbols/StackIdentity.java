package io.leakwatch.collector.symbols;

import io.leakwatch.schemas.Frame;
import io.leakwatch.schemas.FrameNames;
import io.leakwatch.schemas.StackDefinition;
import io.leakwatch.schemas.Topics;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Stable identities of symbolized stacks: the id is a hash of the frames' display forms (never of
 * addresses), so the same leak on 500 hosts is one stack; the allocator and the culprit follow
 * DebugDiag's reading of a stack (docs/records.md).
 */
public final class StackIdentity {
  /** Libraries that allocate on someone else's behalf; the culprit is never one of them. */
  private static final Pattern WRAPPER_LIBRARY =
      Pattern.compile(
          "(libc\\.so.*|libc-.*|libstdc\\+\\+\\.so.*|libgcc_s\\.so.*|ld-linux.*|libpthread\\.so.*|libdl\\.so.*|libleakwatch\\.so)");

  /**
   * C++ operator new and new[] in all their variants (mangled or demangled): part of the allocation
   * function.
   */
  private static final Pattern ALLOCATION_FUNCTION =
      Pattern.compile("_Zn[wa][mj].*|operator new(\\[\\])?\\(.*");

  private StackIdentity() {}

  /** The form hashed into stack ids and used to name culprits (see {@link FrameNames#identity}). */
  public static String display(Frame f) {
    return FrameNames.identity(f);
  }

  public static long id(List<Frame> frames) {
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      for (Frame f : frames) {
        if (f.getInlined()) continue; // from debug info, which may arrive later: never identity
        sha.update(display(f).getBytes(StandardCharsets.UTF_8));
        sha.update((byte) '\n');
      }
      byte[] d = sha.digest();
      long id = 0;
      for (int i = 0; i < 8; i++) id = (id << 8) | (d[i] & 0xff);
      return id == 0 ? 1 : id; // 0 means "no stack" in events
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * @param mainModules file names of the processes' main executables: an allocation made directly
   *     by the application names its own allocation site as the culprit
   */
  public static StackDefinition define(List<Frame> frames, Set<String> mainModules) {
    return define(id(frames), frames, mainModules);
  }

  /**
   * The definition {@code named} again with frames that debug info made richer (file, line, inlined
   * calls, a stripped binary's function names): the same id, so the stack's bytes stay one stack;
   * allocator and culprit are read again from the richer physical frames.
   */
  public static StackDefinition withLines(
      StackDefinition named, List<Frame> richer, Set<String> mainModules) {
    return define(Long.parseUnsignedLong(named.getId(), 16), richer, mainModules);
  }

  private static StackDefinition define(long id, List<Frame> all, Set<String> mainModules) {
    List<Frame> frames = all.stream().filter(f -> !f.getInlined()).toList();
    int site = 0;
    while (site < frames.size() - 1
        && frames.get(site).getFunction() != null
        && ALLOCATION_FUNCTION.matcher(frames.get(site).getFunction()).matches()) {
      site++;
    }
    String allocator = frames.isEmpty() ? Symbolizer.UNKNOWN_MODULE : frames.get(site).getModule();
    String culprit = frames.isEmpty() ? Symbolizer.UNKNOWN_MODULE : display(frames.get(site));
    if (!frames.isEmpty() && !mainModules.contains(allocator)) {
      for (int i = site; i < frames.size(); i++) {
        String module = frames.get(i).getModule();
        if (!module.equals(allocator)
            && !isWrapper(module)
            && !Symbolizer.UNKNOWN_MODULE.equals(module)) {
          culprit = display(frames.get(i));
          break;
        }
      }
    }
    return StackDefinition.newBuilder()
        .setId(Topics.stackIdHex(id))
        .setAllocator(allocator)
        .setCulprit(culprit)
        .setFrames(all)
        .build();
  }

  public static boolean isWrapper(String module) {
    return WRAPPER_LIBRARY.matcher(module).matches();
  }
}
