package io.leakwatch.collector.symbols;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * File, line and inlined calls of code addresses, from a long-lived {@code llvm-symbolizer}
 * subprocess (LLVM's DWARF reader: DWARF 5, compressed sections, split DWARF and type units, which
 * a hand-written parser would get wrong). Running it as a process keeps a crash or a runaway on a
 * hostile debug file out of the collector: it is killed when an answer takes longer than the
 * timeout or its memory grows past the limit, and started again for the next request.
 *
 * <p>Protocol: one line per address, {@code "FILE" 0xADDR}, answered by one JSON line ({@code
 * --output-style=JSON}) listing the inlined calls at that address, innermost first, then the
 * function they were inlined into.
 */
public final class LlvmSymbolizer implements AutoCloseable {
  /**
   * One source location of an address: innermost inlined call first, the real function last.
   *
   * @param start where the function begins (ELF virtual address), -1 when not said
   */
  public record SourceLine(String function, String file, int line, long start) {
    public SourceLine(String function, String file, int line) {
      this(function, file, line, -1);
    }
  }

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int MAX_LINE_CHARS = 1 << 20;
  private static final String EOF = "\0eof";

  private final List<String> command;
  private final Duration timeout;
  private final long maxRssBytes;
  private Process process;
  private Writer stdin;
  private BlockingQueue<String> answers;
  private long restarts;

  /**
   * @param executable llvm-symbolizer (or a path to it)
   * @param timeout the longest one batch of addresses may take
   * @param maxRssBytes restart the symbolizer when its resident memory passes this (its caches of
   *     large DWARF files grow with every module it has seen)
   */
  public LlvmSymbolizer(String executable, Duration timeout, long maxRssBytes) {
    List<String> cmd = new ArrayList<>();
    // Background work on someone's server: at the lowest CPU priority, it never competes with the
    // services (or, in a local run, with the pipeline that applies their events).
    if (Files.isExecutable(Path.of("/usr/bin/nice")))
      cmd.addAll(List.of("/usr/bin/nice", "-n", "19"));
    cmd.addAll(
        List.of(
            executable,
            "--output-style=JSON",
            "--inlines",
            "--demangle",
            "--functions=linkage",
            // The collector chose the file that has DWARF; the symbolizer must not go looking.
            "--debug-file-directory=/nonexistent"));
    this.command = List.copyOf(cmd);
    this.timeout = timeout;
    this.maxRssBytes = maxRssBytes;
  }

  /** The first of these found on PATH, or null: llvm-symbolizer, then versioned names. */
  public static String findOnPath() {
    String path = System.getenv("PATH");
    if (path == null) return null;
    List<String> names = new ArrayList<>(List.of("llvm-symbolizer"));
    for (int v = 30; v >= 11; v--) names.add("llvm-symbolizer-" + v);
    for (String name : names) {
      for (String dir : path.split(":")) {
        if (dir.isEmpty()) continue;
        Path p = Path.of(dir, name);
        if (Files.isExecutable(p)) return p.toString();
      }
    }
    return null;
  }

  /**
   * Source lines of each address (ELF virtual addresses in {@code file}); an address without debug
   * info gets an empty list. {@code file} must be a path without a double quote or line break.
   */
  public synchronized List<List<SourceLine>> symbolize(Path file, long[] addresses)
      throws LookupFailure {
    String name = file.toString();
    if (name.indexOf('"') >= 0 || name.indexOf('\n') >= 0 || name.indexOf('\r') >= 0)
      throw new LookupFailure("unusable_path", name);
    if (addresses.length == 0) return List.of();
    ensureStarted();
    long deadline = System.nanoTime() + timeout.toNanos();
    List<List<SourceLine>> out = new ArrayList<>(addresses.length);
    try {
      StringBuilder request = new StringBuilder();
      for (long a : addresses)
        request.append('"').append(name).append("\" 0x").append(Long.toHexString(a)).append('\n');
      stdin.write(request.toString());
      stdin.flush();
      for (int i = 0; i < addresses.length; i++) {
        long left = deadline - System.nanoTime();
        String answer = left > 0 ? answers.poll(left, TimeUnit.NANOSECONDS) : null;
        if (answer == null) {
          stop();
          throw new LookupFailure(
              "symbolizer_timeout", "no answer within " + timeout + " for " + name);
        }
        if (answer == EOF) {
          stop();
          throw new LookupFailure("symbolizer_crashed", "llvm-symbolizer ended on " + name);
        }
        out.add(parse(answer));
      }
    } catch (IOException e) {
      stop();
      throw new LookupFailure("symbolizer_crashed", "llvm-symbolizer: " + e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      stop();
      throw new LookupFailure("symbolizer_timeout", "interrupted");
    }
    if (rssBytes() > maxRssBytes) stop(); // started afresh by the next request
    return out;
  }

  /**
   * One JSON answer's locations with a file, innermost first; anything unexpected is an empty list
   * (the frame keeps its function and offset).
   */
  static List<SourceLine> parse(String json) {
    List<SourceLine> lines = new ArrayList<>();
    try {
      JsonNode symbols = JSON.readTree(json).path("Symbol");
      if (!symbols.isArray()) return lines;
      for (JsonNode s : symbols) {
        String fileName = s.path("FileName").asText("");
        String function = s.path("FunctionName").asText("");
        int line = s.path("Line").asInt(0);
        if (fileName.isEmpty() || fileName.equals("??") || line < 0) return List.of();
        if (function.isEmpty() || function.equals("??")) function = null;
        long start = -1;
        String startAddress = s.path("StartAddress").asText("");
        if (startAddress.startsWith("0x")
            && startAddress.length() > 2
            && startAddress.length() <= 18)
          start = Long.parseUnsignedLong(startAddress.substring(2), 16);
        lines.add(new SourceLine(bounded(function), bounded(fileName), line, start));
        if (lines.size() > 64) return List.of(); // no real inlining is this deep
      }
    } catch (IOException | RuntimeException e) {
      return List.of();
    }
    return lines;
  }

  private static String bounded(String s) {
    return s == null || s.length() <= 4096 ? s : s.substring(0, 4096);
  }

  private void ensureStarted() throws LookupFailure {
    if (process != null && process.isAlive()) return;
    stop();
    ProcessBuilder pb = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD);
    try {
      process = pb.start();
    } catch (IOException e) {
      throw new LookupFailure(
          "symbolizer_missing", String.join(" ", command) + ": " + e.getMessage());
    }
    restarts++;
    stdin = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
    BlockingQueue<String> queue = new LinkedBlockingQueue<>();
    answers = queue;
    BufferedReader stdout =
        new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
    Thread reader =
        new Thread(
            () -> {
              try {
                // Bounded lines: a hostile file's giant name must not grow this without limit.
                StringBuilder line = new StringBuilder();
                boolean tooLong = false;
                for (int c; (c = stdout.read()) >= 0; ) {
                  if (c != '\n') {
                    if (line.length() < MAX_LINE_CHARS) line.append((char) c);
                    else tooLong = true;
                    continue;
                  }
                  if (line.length() > 0) queue.add(tooLong ? "{}" : line.toString());
                  line.setLength(0);
                  tooLong = false;
                }
              } catch (IOException ignored) {
                // the process was stopped
              }
              queue.add(EOF);
            },
            "leakwatch-llvm-symbolizer-out");
    reader.setDaemon(true);
    reader.start();
  }

  private long rssBytes() {
    if (process == null) return 0;
    try {
      for (String line : Files.readAllLines(Path.of("/proc", process.pid() + "", "status"))) {
        if (line.startsWith("VmRSS:")) {
          String kb = line.substring(6).trim().split("\\s+")[0];
          return Long.parseLong(kb) * 1024;
        }
      }
    } catch (IOException | RuntimeException e) {
      return 0;
    }
    return 0;
  }

  /** How many times the symbolizer process was started. */
  public synchronized long starts() {
    return restarts;
  }

  private void stop() {
    if (process != null) {
      process.destroyForcibly();
      process = null;
    }
    stdin = null;
    answers = null;
  }

  @Override
  public synchronized void close() {
    stop();
  }
}
