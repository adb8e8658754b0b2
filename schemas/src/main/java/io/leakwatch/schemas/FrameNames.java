package io.leakwatch.schemas;

/**
 * The display form of a frame, DebugDiag's {@code module!function+0xoffset}, defined once: the
 * collector hashes it into stable stack ids and names culprits with it, the streams-app shows it.
 */
public final class FrameNames {
  /** The module of addresses outside every known ELF object (JIT code, for instance). */
  public static final String UNKNOWN_MODULE = "[unknown]";

  /**
   * The module of code a JIT generated and named in its perf map (a JVM's compiled Java methods).
   */
  public static final String JIT_MODULE = "[jit]";

  private FrameNames() {}

  /**
   * For people: {@code module!function+0xoffset}, {@code module+0xoffset}, {@code
   * [unknown]+0xaddress}; a call the compiler inlined has no code of its own, so no offset: {@code
   * module!function (inlined)}.
   */
  public static String display(Frame f) {
    if (f.getInlined()) return f.getModule() + "!" + f.getFunction() + " (inlined)";
    if (f.getFunction() != null)
      return f.getModule() + "!" + f.getFunction() + "+0x" + Long.toHexString(f.getOffset());
    if (UNKNOWN_MODULE.equals(f.getModule()))
      return UNKNOWN_MODULE + "+0x" + Long.toHexString(f.getOffset());
    return f.getModule() + "+0x" + Long.toHexString(f.getModuleOffset());
  }

  /**
   * For stack identity: the display form, except that an address outside every module is just
   * {@code [unknown]} and a JIT frame is its method without offset, so that addresses (different on
   * every host and run) never enter a stack id. Inlined frames are not hashed at all (see
   * StackIdentity): they come from debug info, which may appear later.
   */
  public static String identity(Frame f) {
    if (UNKNOWN_MODULE.equals(f.getModule())) return UNKNOWN_MODULE;
    // JIT code moves (recompilation, another host, another run): a JIT frame is its method's name.
    if (JIT_MODULE.equals(f.getModule())) return JIT_MODULE + "!" + f.getFunction();
    return display(f);
  }
}
