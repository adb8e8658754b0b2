package io.leakwatch.collector.symbols;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.leakwatch.collector.NativeRuns;
import io.leakwatch.schemas.Frame;
import io.leakwatch.schemas.FrameNames;
import io.leakwatch.schemas.StackDefinition;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * File, line and inlined frames from every source of debug info, checked against binutils'
 * addr2line on the unstripped binary; and what happens when a source is broken or hostile.
 */
class SourceLinesTest {
  private static long returnAddress;
  private static List<InlineLeakProgram.Addr2line> truth;

  @TempDir Path tmp;
  private final Map<String, AtomicLong> failures = new ConcurrentHashMap<>();
  private final Map<DebugFiles.Source, AtomicLong> resolved = new ConcurrentHashMap<>();
  private final List<AutoCloseable> closing = new ArrayList<>();

  private final SourceLines.Listener listener =
      new SourceLines.Listener() {
        @Override
        public void resolved(DebugFiles.Source source, int sites) {
          resolved.computeIfAbsent(source, s -> new AtomicLong()).addAndGet(sites);
        }

        @Override
        public void failed(String reason, int sites) {
          failures.computeIfAbsent(reason, s -> new AtomicLong()).addAndGet(sites);
        }
      };

  @BeforeAll
  static void readTheTruth() throws Exception {
    returnAddress = InlineLeakProgram.mallocReturnAddress();
    truth = InlineLeakProgram.addr2line(InlineLeakProgram.PROGRAM, returnAddress - 1);
    // The allocation is inlined: addr2line names the helper, then the function it was inlined into.
    assertThat(truth)
        .extracting(InlineLeakProgram.Addr2line::function)
        .containsExactly("new_session_key", "open_session");
  }

  @AfterEach
  void close() throws Exception {
    for (AutoCloseable c : closing) c.close();
  }

  private SourceLines lines(Path debugRoot, Debuginfod.Options debuginfod, String symbolizer) {
    SourceLines s =
        new SourceLines(
            new SourceLines.Options(symbolizer, Duration.ofSeconds(10), 1L << 30, debuginfod, 100),
            new DebugFiles(debugRoot),
            listener);
    closing.add(s);
    return s.start();
  }

  private SourceLines lines(Path debugRoot, Debuginfod.Options debuginfod) {
    return lines(debugRoot, debuginfod, LlvmSymbolizer.findOnPath());
  }

  private Debuginfod.Options server(URI url, Duration timeout, long maxBytes) {
    return new Debuginfod.Options(
        url == null ? List.of() : List.of(url),
        tmp.resolve("cache"),
        timeout,
        maxBytes,
        Duration.ofMinutes(10));
  }

  /** Annotates the stack of {@code binary}; returns the definition with lines once they came. */
  private StackDefinition resolve(SourceLines lines, Path binary) throws InterruptedException {
    List<SourceLines.Site> sites = new ArrayList<>();
    StackDefinition named = InlineLeakProgram.stack(binary, returnAddress, sites);
    long t0 = System.nanoTime();
    StackDefinition first = lines.annotate(named, sites, Set.of("inline-leak"));
    // Never waits for a file, a symbolizer or a server: the publishing loop calls this.
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(1));
    assertThat(first).isSameAs(named);
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (System.nanoTime() < deadline) {
      List<StackDefinition> done = lines.takeNamed();
      if (!done.isEmpty()) return done.get(0);
      if (lines.pendingStacks() == 0) return named; // resolved to nothing: not published again
      Thread.sleep(20);
    }
    throw new AssertionError("no lines within 60 s; failures " + failures);
  }

  private static void assertMatchesAddr2line(StackDefinition def, StackDefinition before) {
    assertThat(def.getId()).isEqualTo(before.getId()); // lines never change a stack's identity
    List<Frame> frames = def.getFrames();
    assertThat(frames).hasSize(truth.size());
    for (int i = 0; i < truth.size(); i++) {
      Frame f = frames.get(i);
      assertThat(f.getFunction()).as("frame %d", i).isEqualTo(truth.get(i).function());
      assertThat(f.getFile()).as("frame %d", i).isEqualTo(truth.get(i).file());
      assertThat(f.getLine()).as("frame %d", i).isEqualTo(truth.get(i).line());
      assertThat(f.getInlined()).as("frame %d", i).isEqualTo(i < truth.size() - 1);
    }
    Frame physical = frames.get(frames.size() - 1);
    assertThat(physical.getModuleOffset()).isEqualTo(returnAddress);
    assertThat(FrameNames.display(frames.get(0))).endsWith("!new_session_key (inlined)");
    assertThat(StackIdentity.id(List.of(before.getFrames().get(0))))
        .isEqualTo(Long.parseUnsignedLong(def.getId(), 16));
  }

  @Test
  void theBinarysOwnDwarfGivesFileLineAndTheInlinedAllocationAsItsOwnFrame() throws Exception {
    SourceLines lines = lines(tmp.resolve("no-debug-root"), server(null, Duration.ofSeconds(5), 1));
    List<SourceLines.Site> sites = new ArrayList<>();
    StackDefinition before =
        InlineLeakProgram.stack(InlineLeakProgram.PROGRAM, returnAddress, sites);
    StackDefinition def = resolve(lines, InlineLeakProgram.PROGRAM);
    assertMatchesAddr2line(def, before);
    assertThat(resolved.get(DebugFiles.Source.BINARY)).hasValue(1);
    assertThat(def.getCulprit()).isEqualTo(before.getCulprit());

    // Kafka did not take it: given back, it comes out of takeNamed again, the same.
    lines.retry(List.of(def));
    assertThat(lines.takeNamed()).containsExactly(def);
    assertThat(lines.pendingStacks()).isZero();

    // Seen again (another process, a forgotten stack): lines at once, no second wait.
    List<SourceLines.Site> again = new ArrayList<>();
    StackDefinition second =
        InlineLeakProgram.stack(InlineLeakProgram.PROGRAM, returnAddress, again);
    assertThat(lines.annotate(second, again, Set.of("inline-leak")).getFrames()).hasSize(2);
  }

  @Test
  void aStackWithJitFramesGetsLinesForItsNativeFramesOnly() throws Exception {
    SourceLines lines = lines(tmp.resolve("no-debug-root"), server(null, Duration.ofSeconds(5), 1));
    List<SourceLines.Site> sites = new ArrayList<>();
    StackDefinition native1 =
        InlineLeakProgram.stack(InlineLeakProgram.PROGRAM, returnAddress, sites);
    Frame jit =
        Frame.newBuilder()
            .setModule(FrameNames.JIT_MODULE)
            .setFunction("void ZipLeak.leakSome()")
            .setOffset(0x40)
            .setModuleOffset(0x7f0000001000L)
            .build();
    List<Frame> frames = new ArrayList<>(native1.getFrames());
    frames.add(jit);
    sites.add(null); // a JIT frame has no module, so no site
    StackDefinition def = StackIdentity.define(frames, Set.of("inline-leak"));

    assertThat(lines.annotate(def, sites, Set.of("inline-leak"))).isSameAs(def);
    StackDefinition named = null;
    for (int i = 0; i < 3000 && named == null; i++) {
      List<StackDefinition> done = lines.takeNamed();
      if (!done.isEmpty()) named = done.get(0);
      else Thread.sleep(20);
    }
    assertThat(named).isNotNull();
    assertThat(named.getId()).isEqualTo(def.getId());
    assertThat(named.getFrames()).hasSize(3); // inlined, open_session, the JIT frame as it was
    assertThat(named.getFrames().get(2)).isEqualTo(jit);
  }

  @Test
  void stacksNamedWhileTheServerWasDownGetTheirLinesWhenItIsBack() throws Exception {
    int port = DebuginfodServer.freePort();
    URI url = URI.create("http://127.0.0.1:" + port);
    SourceLines lines =
        lines(
            tmp.resolve("no-debug-root"),
            new Debuginfod.Options(
                List.of(url),
                tmp.resolve("cache"),
                Duration.ofSeconds(2),
                1 << 30,
                Duration.ofSeconds(1)));
    StackDefinition meanwhile = resolve(lines, InlineLeakProgram.STRIPPED);
    assertThat(meanwhile.getFrames().get(0).getLine()).as("the server is down").isNull();
    assertThat(failures).containsKey("debuginfod_unreachable");

    Path served = Files.createDirectories(tmp.resolve("served"));
    Files.copy(InlineLeakProgram.DEBUG, served.resolve("inline-leak.debug"));
    closing.add(
        DebuginfodServer.serving(served, tmp.resolve("server"), InlineLeakProgram.buildId(), port));
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    List<StackDefinition> again = List.of();
    while (again.isEmpty() && System.nanoTime() < deadline) {
      again = lines.takeNamed();
      Thread.sleep(50);
    }
    assertThat(again).as("named again once the server answers").hasSize(1);
    assertThat(again.get(0).getId()).isEqualTo(meanwhile.getId());
    assertThat(again.get(0).getFrames().get(0).getLine()).isNotNull();
  }

  @Test
  void aStrippedProgramWhoseDebugInfoIsOnlyOnADebuginfodServer() throws Exception {
    Path served = Files.createDirectories(tmp.resolve("served"));
    Files.copy(InlineLeakProgram.DEBUG, served.resolve("inline-leak.debug"));
    DebuginfodServer server =
        DebuginfodServer.serving(served, tmp.resolve("server"), InlineLeakProgram.buildId());
    closing.add(server);
    SourceLines lines =
        lines(tmp.resolve("no-debug-root"), server(server.url(), Duration.ofSeconds(30), 1 << 30));

    List<SourceLines.Site> sites = new ArrayList<>();
    StackDefinition before =
        InlineLeakProgram.stack(InlineLeakProgram.STRIPPED, returnAddress, sites);
    // Stripped: the host alone can only say module+offset, and that is the stack's identity.
    assertThat(before.getFrames().get(0).getFunction()).isNull();
    StackDefinition def = resolve(lines, InlineLeakProgram.STRIPPED);

    assertMatchesAddr2line(def, before);
    assertThat(resolved.get(DebugFiles.Source.DEBUGINFOD)).hasValue(1);
    // Named as the unstripped program's own symbols name it: function and offset in it.
    String unstripped =
        FrameNames.display(
            InlineLeakProgram.stack(InlineLeakProgram.PROGRAM, returnAddress, new ArrayList<>())
                .getFrames()
                .get(0));
    assertThat(def.getCulprit())
        .isEqualTo(unstripped.replace("inline-leak!", "inline-leak.stripped!"));
    // Cached on disk by build id, where debuginfod's own client keeps it.
    assertThat(tmp.resolve("cache").resolve(InlineLeakProgram.buildId()).resolve("debuginfo"))
        .isRegularFile();
  }

  @Test
  void aStrippedProgramWithItsDebugFileUnderTheBuildIdDirectoryAndNoServer() throws Exception {
    String id = InlineLeakProgram.buildId();
    Path root = tmp.resolve("usr-lib-debug");
    Path file =
        root.resolve(".build-id").resolve(id.substring(0, 2)).resolve(id.substring(2) + ".debug");
    Files.createDirectories(file.getParent());
    Files.copy(InlineLeakProgram.DEBUG, file);
    SourceLines lines = lines(root, server(null, Duration.ofSeconds(5), 1));
    List<SourceLines.Site> sites = new ArrayList<>();
    StackDefinition before =
        InlineLeakProgram.stack(InlineLeakProgram.STRIPPED, returnAddress, sites);

    assertMatchesAddr2line(resolve(lines, InlineLeakProgram.STRIPPED), before);
    assertThat(resolved.get(DebugFiles.Source.BUILD_ID_DIRECTORY)).hasValue(1);
  }

  @Test
  void aStrippedProgramWithAGnuDebuglinkBesideIt() throws Exception {
    Path dir = Files.createDirectories(tmp.resolve("app"));
    Path binary = dir.resolve("inline-leak");
    Files.copy(InlineLeakProgram.DEBUG, dir.resolve("inline-leak.debug"));
    InlineLeakProgram.run(
        "objcopy",
        "--add-gnu-debuglink=" + dir.resolve("inline-leak.debug"),
        InlineLeakProgram.STRIPPED.toString(),
        binary.toString());
    SourceLines lines = lines(tmp.resolve("no-debug-root"), server(null, Duration.ofSeconds(5), 1));
    List<SourceLines.Site> sites = new ArrayList<>();
    StackDefinition before = InlineLeakProgram.stack(binary, returnAddress, sites);

    assertMatchesAddr2line(resolve(lines, binary), before);
    assertThat(resolved.get(DebugFiles.Source.DEBUGLINK)).hasValue(1);
  }

  @Test
  void aDebugFileOfAnotherBuildIsNotUsed() throws Exception {
    // Under the stripped program's build id, the debug file of another program: a stale package.
    String id = InlineLeakProgram.buildId();
    Path root = tmp.resolve("usr-lib-debug");
    Path file =
        root.resolve(".build-id").resolve(id.substring(0, 2)).resolve(id.substring(2) + ".debug");
    Files.createDirectories(file.getParent());
    InlineLeakProgram.run(
        "objcopy", "--only-keep-debug", NativeRuns.churn().toString(), file.toString());
    SourceLines lines = lines(root, server(null, Duration.ofSeconds(5), 1));
    List<SourceLines.Site> sites = new ArrayList<>();
    StackDefinition before =
        InlineLeakProgram.stack(InlineLeakProgram.STRIPPED, returnAddress, sites);

    StackDefinition def = resolve(lines, InlineLeakProgram.STRIPPED);
    assertThat(def).isEqualTo(before); // degraded to module+offset, not another program's lines
    assertThat(failures).containsKey("debug_file_mismatch");
  }

  @Test
  void aDebuglinkWhoseCrcDoesNotMatchIsNotUsedAndOneThatMatchesIs() throws Exception {
    // Without a build id the CRC-32 in .gnu_debuglink is all that ties a debug file to its binary.
    Path dir = Files.createDirectories(tmp.resolve("app"));
    Path noId = tmp.resolve("inline-leak.no-build-id");
    InlineLeakProgram.run(
        "objcopy",
        "--remove-section=.note.gnu.build-id",
        InlineLeakProgram.STRIPPED.toString(),
        noId.toString());
    Path debug = dir.resolve("inline-leak.debug");
    Files.copy(InlineLeakProgram.DEBUG, debug);
    Path binary = dir.resolve("inline-leak");
    InlineLeakProgram.run(
        "objcopy", "--add-gnu-debuglink=" + debug, noId.toString(), binary.toString());
    assertThat(ElfSymbols.load(binary).buildId()).isNull();
    List<SourceLines.Site> sites = new ArrayList<>();
    StackDefinition before = InlineLeakProgram.stack(binary, returnAddress, sites);

    assertMatchesAddr2line(
        resolve(
            lines(tmp.resolve("no-debug-root"), server(null, Duration.ofSeconds(5), 1)), binary),
        before);
    assertThat(resolved.get(DebugFiles.Source.DEBUGLINK)).hasValue(1);

    // The debug file rebuilt since (one byte of its DWARF differs): its CRC no longer matches.
    byte[] changed = Files.readAllBytes(debug);
    changed[changed.length / 2] ^= 0x5a;
    Files.write(debug, changed);
    // Neither its lines nor its function names are used: the frame is the stripped binary's.
    StackDefinition stale = InlineLeakProgram.stack(binary, returnAddress, new ArrayList<>());
    assertThat(stale.getFrames().get(0).getFunction()).isNull();
    StackDefinition def =
        resolve(
            lines(tmp.resolve("no-debug-root"), server(null, Duration.ofSeconds(5), 1)), binary);
    assertThat(def).as("failures %s, resolved %s", failures, resolved).isEqualTo(stale);
    assertThat(failures).containsKey("debug_file_mismatch");
    assertThat(resolved.get(DebugFiles.Source.DEBUGLINK)).hasValue(1); // not a second time
  }

  @Test
  void aTruncatedDebugFileDegradesToTheFunctionNameAndSaysWhy() throws Exception {
    // A download or a package unpack cut short: every length from a few bytes to nearly whole.
    byte[] whole = Files.readAllBytes(InlineLeakProgram.DEBUG);
    String id = InlineLeakProgram.buildId();
    for (double fraction : new double[] {0.001, 0.05, 0.3, 0.6, 0.9, 0.999}) {
      failures.clear();
      Path root = tmp.resolve("usr-lib-debug-" + fraction);
      Path file =
          root.resolve(".build-id").resolve(id.substring(0, 2)).resolve(id.substring(2) + ".debug");
      Files.createDirectories(file.getParent());
      Files.write(file, java.util.Arrays.copyOf(whole, (int) (whole.length * fraction)));
      List<SourceLines.Site> sites = new ArrayList<>();
      StackDefinition before =
          InlineLeakProgram.stack(InlineLeakProgram.STRIPPED, returnAddress, sites);

      StackDefinition def =
          resolve(lines(root, server(null, Duration.ofSeconds(5), 1)), InlineLeakProgram.STRIPPED);
      Frame physical = def.getFrames().get(def.getFrames().size() - 1);
      assertThat(FrameNames.display(physical))
          .as("cut at %s", fraction)
          .isEqualTo(FrameNames.display(before.getFrames().get(0)));
      assertThat(def.getId()).isEqualTo(before.getId());
      assertThat(failures).as("cut at %s: the reason is counted", fraction).isNotEmpty();
    }
  }

  @Test
  void corruptDwarfNeverStopsTheCollectorAndTheFrameKeepsItsName() throws Exception {
    byte[] image = Files.readAllBytes(InlineLeakProgram.PROGRAM);
    String sections =
        InlineLeakProgram.run("readelf", "-S", "-W", InlineLeakProgram.PROGRAM.toString());
    for (String name : List.of(".debug_info", ".debug_line", ".debug_abbrev")) {
      Matcher m =
          Pattern.compile(
                  "\\Q" + name + "\\E\\s+PROGBITS\\s+[0-9a-f]+\\s+([0-9a-f]+)\\s+([0-9a-f]+)")
              .matcher(sections);
      assertThat(m.find()).as(name).isTrue();
      int off = Integer.parseInt(m.group(1), 16), size = Integer.parseInt(m.group(2), 16);
      SplittableRandom rnd = new SplittableRandom(name.hashCode());
      for (int i = 0; i < size; i += 3) image[off + i] = (byte) rnd.nextInt(256);
    }
    Path corrupt = tmp.resolve("inline-leak");
    Files.write(corrupt, image);
    SourceLines lines = lines(tmp.resolve("no-debug-root"), server(null, Duration.ofSeconds(5), 1));
    List<SourceLines.Site> sites = new ArrayList<>();
    StackDefinition before = InlineLeakProgram.stack(corrupt, returnAddress, sites);

    StackDefinition def = resolve(lines, corrupt);
    Frame physical = def.getFrames().get(def.getFrames().size() - 1);
    assertThat(FrameNames.display(physical))
        .isEqualTo(FrameNames.display(before.getFrames().get(0)));
    assertThat(def.getId()).isEqualTo(before.getId());
  }

  @Test
  void aSymbolizerThatCrashesOrHangsIsCountedAndReplaced() throws Exception {
    Path crashing = script("crashing-symbolizer", "#!/bin/sh\nexit 3\n");
    SourceLines lines =
        lines(tmp.resolve("none"), server(null, Duration.ofSeconds(5), 1), crashing.toString());
    StackDefinition def = resolve(lines, InlineLeakProgram.PROGRAM);
    assertThat(def.getFrames()).hasSize(1);
    assertThat(failures).containsKey("symbolizer_crashed");

    Path hanging = script("hanging-symbolizer", "#!/bin/sh\nexec sleep 600\n");
    SourceLines slow =
        new SourceLines(
            new SourceLines.Options(
                hanging.toString(),
                Duration.ofMillis(500),
                1L << 30,
                server(null, Duration.ofSeconds(5), 1),
                100),
            new DebugFiles(tmp.resolve("none")),
            listener);
    closing.add(slow.start());
    assertThat(resolve(slow, InlineLeakProgram.PROGRAM).getFrames()).hasSize(1);
    assertThat(failures).containsKey("symbolizer_timeout");
  }

  private Path script(String name, String text) throws IOException {
    Path p = tmp.resolve(name);
    Files.writeString(p, text);
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwx------"));
    return p;
  }

  /** A debuginfod server that misbehaves in one way per path. */
  private URI hostileServer() throws IOException {
    HttpServer http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    http.setExecutor(Executors.newCachedThreadPool());
    http.createContext(
        "/slow/",
        ex -> {
          sleep(30_000); // no headers for longer than the timeout
          ex.sendResponseHeaders(404, -1);
          ex.close();
        });
    http.createContext(
        "/trickle/",
        ex -> {
          ex.sendResponseHeaders(200, 0);
          try (OutputStream out = ex.getResponseBody()) {
            for (int i = 0; i < 600; i++) {
              out.write(0x7f);
              out.flush();
              sleep(100);
            }
          } catch (IOException gone) {
            // the client gave up, as it should
          }
        });
    http.createContext(
        "/huge/",
        ex -> {
          ex.sendResponseHeaders(200, 0); // chunked, no length said: found out while reading
          byte[] block = new byte[1 << 16];
          try (OutputStream out = ex.getResponseBody()) {
            for (int i = 0; i < 100_000; i++) out.write(block);
          } catch (IOException gone) {
            // the client gave up
          }
        });
    http.createContext(
        "/declared-huge/",
        ex -> {
          ex.sendResponseHeaders(200, 1L << 40);
          ex.close();
        });
    http.createContext(
        "/wrong/",
        ex -> {
          byte[] other = Files.readAllBytes(NativeRuns.churn()); // an ELF file of another build
          ex.sendResponseHeaders(200, other.length);
          try (OutputStream out = ex.getResponseBody()) {
            out.write(other);
          }
        });
    http.createContext(
        "/garbage/",
        ex -> {
          byte[] junk = new byte[4096];
          new Random(1).nextBytes(junk);
          ex.sendResponseHeaders(200, junk.length);
          try (OutputStream out = ex.getResponseBody()) {
            out.write(junk);
          }
        });
    http.start();
    closing.add(() -> http.stop(0));
    return URI.create("http://127.0.0.1:" + http.getAddress().getPort());
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Test
  void aDebuginfodServerThatIsSlowDownHugeOrWrongLeavesTheFrameAsItWas() throws Exception {
    URI hostile = hostileServer();
    int closedPort;
    try (ServerSocket s = new ServerSocket(0)) {
      closedPort = s.getLocalPort();
    }
    Map<String, String> expected = new LinkedHashMap<>();
    expected.put(hostile + "/slow", "debuginfod_timeout");
    expected.put(hostile + "/trickle", "debuginfod_timeout");
    expected.put(hostile + "/huge", "debuginfod_too_large");
    expected.put(hostile + "/declared-huge", "debuginfod_too_large");
    expected.put(hostile + "/wrong", "debuginfod_wrong_build_id");
    expected.put(hostile + "/garbage", "debuginfod_wrong_build_id");
    expected.put("http://127.0.0.1:" + closedPort, "debuginfod_unreachable");
    for (Map.Entry<String, String> e : expected.entrySet()) {
      failures.clear();
      Path cache = tmp.resolve("cache-" + Math.abs(e.getKey().hashCode()));
      SourceLines lines =
          lines(
              tmp.resolve("none"),
              new Debuginfod.Options(
                  List.of(URI.create(e.getKey())),
                  cache,
                  Duration.ofSeconds(2),
                  1 << 20,
                  Duration.ofMinutes(10)));
      List<SourceLines.Site> sites = new ArrayList<>();
      StackDefinition before =
          InlineLeakProgram.stack(InlineLeakProgram.STRIPPED, returnAddress, sites);
      StackDefinition def = resolve(lines, InlineLeakProgram.STRIPPED);
      assertThat(def).as(e.getKey()).isEqualTo(before);
      assertThat(failures).as(e.getKey()).containsKey(e.getValue());
      // Nothing half-downloaded or foreign is left in the cache to be trusted later.
      assertThat(cache.resolve(InlineLeakProgram.buildId()).resolve("debuginfo")).doesNotExist();
    }
  }

  @Test
  void symbolizerAnswersThatAreNotWhatWasAskedForGiveNoLines() {
    assertThat(LlvmSymbolizer.parse("")).isEmpty();
    assertThat(LlvmSymbolizer.parse("{")).isEmpty();
    assertThat(LlvmSymbolizer.parse("[1,2]")).isEmpty();
    assertThat(LlvmSymbolizer.parse("{\"Symbol\":{}}")).isEmpty();
    assertThat(LlvmSymbolizer.parse("{\"Symbol\":[{\"FileName\":\"??\",\"Line\":0}]}")).isEmpty();
    assertThat(LlvmSymbolizer.parse("{\"Error\":{\"Message\":\"x\"}}")).isEmpty();
    assertThat(
            LlvmSymbolizer.parse(
                "{\"Symbol\":[{\"FileName\":\"a.c\",\"FunctionName\":\"f\",\"Line\":3}]}"))
        .containsExactly(new LlvmSymbolizer.SourceLine("f", "a.c", 3));
    assertThat(
            LlvmSymbolizer.parse(
                "{\"Symbol\":[{\"FileName\":\"a.c\",\"FunctionName\":\"f\",\"Line\":3,"
                    + "\"StartAddress\":\"0xzz\"}]}"))
        .isEmpty();
    SplittableRandom rnd = new SplittableRandom(11);
    String good =
        "{\"Symbol\":[{\"FileName\":\"a.c\",\"FunctionName\":\"f\",\"Line\":3},"
            + "{\"FileName\":\"b.c\",\"FunctionName\":\"g\",\"Line\":9}]}";
    for (int i = 0; i < 20_000; i++) {
      char[] c = good.toCharArray();
      for (int k = 1 + rnd.nextInt(4); k > 0; k--)
        c[rnd.nextInt(c.length)] = (char) rnd.nextInt(128);
      List<LlvmSymbolizer.SourceLine> l = LlvmSymbolizer.parse(new String(c));
      assertThat(l.size()).isLessThanOrEqualTo(2);
      for (LlvmSymbolizer.SourceLine s : l) assertThat(s.file()).isNotEmpty();
    }
  }
}
