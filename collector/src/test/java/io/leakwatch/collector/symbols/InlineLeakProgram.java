package io.leakwatch.collector.symbols;

import io.leakwatch.collector.NativeRuns;
import io.leakwatch.collector.ring.RingRecord;
import io.leakwatch.schemas.Frame;
import io.leakwatch.schemas.StackDefinition;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The test program inline-leak (src/test/c/inline_leak.c), its stripped copy and its separate debug
 * file, with the call site of its inlined allocation found by objdump and the truth about that site
 * told by binutils' addr2line: tools that share no code with llvm-symbolizer.
 */
public final class InlineLeakProgram {
  /** The native build: the collector module's, also from another module's tests. */
  private static final Path NATIVE =
      System.getProperty("leakwatch.home") != null
          ? Path.of(System.getProperty("leakwatch.home"), "collector", "target", "native")
              .toAbsolutePath()
              .normalize()
          : NativeRuns.NATIVE;

  public static final Path PROGRAM = NATIVE.resolve("inline-leak");
  public static final Path STRIPPED = NATIVE.resolve("inline-leak.stripped");
  public static final Path DEBUG = NATIVE.resolve("inline-leak.debug");

  /** What addr2line -f -i says of one address: innermost inlined call first. */
  public record Addr2line(String function, String file, int line) {}

  private InlineLeakProgram() {}

  public static String buildId() {
    return ElfSymbols.load(PROGRAM).buildId();
  }

  /** The return address of open_session's call to malloc (ELF virtual address), from objdump. */
  public static long mallocReturnAddress() throws IOException, InterruptedException {
    String dis = run("objdump", "-d", "--no-show-raw-insn", PROGRAM.toString());
    int at = dis.indexOf("<open_session>:");
    if (at < 0) throw new IllegalStateException("no open_session in objdump output");
    Pattern insn = Pattern.compile("^\\s*([0-9a-f]+):\\s+(.*)$", Pattern.MULTILINE);
    Matcher m = insn.matcher(dis.substring(at));
    boolean afterCall = false;
    while (m.find()) {
      if (afterCall) return Long.parseLong(m.group(1), 16);
      afterCall = m.group(2).startsWith("call") && m.group(2).contains("<malloc@plt>");
    }
    throw new IllegalStateException("no call to malloc in open_session");
  }

  /**
   * addr2line -f -i -e FILE ADDRESS, innermost first, discriminators dropped; empty where it knows
   * no line.
   */
  public static List<Addr2line> addr2line(Path file, long address)
      throws IOException, InterruptedException {
    String out =
        run("addr2line", "-f", "-i", "-e", file.toString(), "0x" + Long.toHexString(address));
    String[] lines = out.strip().split("\n");
    List<Addr2line> frames = new ArrayList<>();
    for (int i = 0; i + 1 < lines.length; i += 2) {
      String where = lines[i + 1].replaceAll(" \\(discriminator \\d+\\)$", "");
      if (where.startsWith("??")) continue; // no line information (start-up code without DWARF)
      int colon = where.lastIndexOf(':');
      frames.add(
          new Addr2line(
              lines[i], where.substring(0, colon), Integer.parseInt(where.substring(colon + 1))));
    }
    return frames;
  }

  /** The module record the shim would write for {@code file} loaded at bias 0. */
  public static RingRecord.Module module(Path file) {
    return new RingRecord.Module(1, 0, 0x1000, 0x100000, true, buildId(), file.toString());
  }

  /**
   * The stack the collector names for one allocation from open_session, as {@link Symbolizer} names
   * it from {@code file}'s own symbols, with its line-lookup sites.
   */
  public static StackDefinition stack(Path file, long returnAddress, List<SourceLines.Site> sites) {
    ModuleMap modules = new ModuleMap();
    RingRecord.Module m = module(file);
    modules.add(m);
    Symbolizer symbolizer = new Symbolizer(Path.of("/nonexistent"), null);
    Frame f = symbolizer.frame(returnAddress, modules);
    sites.add(symbolizer.site(returnAddress, modules));
    return StackIdentity.define(List.of(f), Set.of(f.getModule()));
  }

  public static String run(String... command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0)
      throw new IllegalStateException(String.join(" ", command) + " failed: " + out);
    return out;
  }
}
