package io.leakwatch.collector.symbols;

import io.leakwatch.collector.ring.RingRecord;
import io.leakwatch.schemas.Frame;
import io.leakwatch.schemas.FrameNames;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Turns return addresses into frames {@code module!function+0xoffset}. Symbol tables are cached by
 * build id (or path when a file has none), so a library shared by every process on the host is
 * parsed once. The names come from what is on this host's disk: the binary's .symtab and .dynsym,
 * its MiniDebugInfo, and a separate debug file (its debug link's, or under
 * /usr/lib/debug/.build-id) when that one is fuller. These names make the stack's identity, so a
 * debuginfod server's answer (see {@link SourceLines}) only adds to what is shown, never to the id.
 */
public final class Symbolizer {
  public static final String UNKNOWN_MODULE = FrameNames.UNKNOWN_MODULE;
  private static final int CACHE_ENTRIES = 512;

  private final Map<String, ElfSymbols> cache =
      new LinkedHashMap<>(64, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, ElfSymbols> e) {
          return size() > CACHE_ENTRIES;
        }
      };
  private final Demangler demangler = new Demangler();
  private final DebugFiles debugFiles;
  private final Path rootPrefix;
  private long hits;
  private long misses;
  private volatile SourceLines sourceLines;

  public Symbolizer() {
    this(Path.of("/usr/lib/debug"), null);
  }

  /**
   * @param debugRoot the global debug directory (/usr/lib/debug, with .build-id below it)
   * @param rootPrefix where the target's file system is seen from here (for example /proc/PID/root
   *     or a container's root); null for the same file system
   */
  public Symbolizer(Path debugRoot, Path rootPrefix) {
    this.debugFiles = new DebugFiles(debugRoot);
    this.rootPrefix = rootPrefix;
  }

  public synchronized ElfSymbols symbolsFor(RingRecord.Module m) {
    String key = m.buildId() != null ? "b:" + m.buildId() : "p:" + m.path();
    ElfSymbols s = cache.get(key);
    if (s != null) {
      hits++;
      return s;
    }
    misses++;
    s = load(m);
    cache.put(key, s);
    return s;
  }

  private ElfSymbols load(RingRecord.Module m) {
    Path file = fileOf(m);
    ElfSymbols own = ElfSymbols.load(file);
    ElfSymbols best = own;
    for (Path separate : debugFiles.separateFiles(file, own)) {
      ElfSymbols fuller = ElfSymbols.load(separate);
      boolean belongs =
          own.buildId() != null
              ? own.buildId().equals(fuller.buildId())
              : DebugFiles.crc32(separate)
                  == Integer.toUnsignedLong(own.debugSections().debugLinkCrc());
      if (belongs && fuller.size() > best.size()) best = fuller;
    }
    return best;
  }

  /** Where a module's file is seen from the collector (inside the target's root, if it has one). */
  public Path fileOf(RingRecord.Module m) {
    Path file = Path.of(m.path());
    if (rootPrefix != null && file.isAbsolute())
      file = rootPrefix.resolve(file.toString().substring(1));
    return file;
  }

  /** Adds file, line and inlined frames to the stacks this symbolizer names (see SourceLines). */
  public Symbolizer withSourceLines(SourceLines lines) {
    this.sourceLines = lines;
    return this;
  }

  /** Null when lines are off. */
  public SourceLines sourceLines() {
    return sourceLines;
  }

  /** The call site of a return address for line lookup, or null outside every module (JIT code). */
  public SourceLines.Site site(long returnAddress, ModuleMap modules) {
    RingRecord.Module m = modules.find(returnAddress);
    if (m == null) return null;
    return new SourceLines.Site(m, fileOf(m), returnAddress - m.loadBias() - 1);
  }

  public DebugFiles debugFiles() {
    return debugFiles;
  }

  /** Names one return address. */
  public Frame frame(long returnAddress, ModuleMap modules) {
    return frame(returnAddress, modules, PerfMap.EMPTY);
  }

  /** Names one return address; one outside every module is looked up in the JIT's perf map. */
  public Frame frame(long returnAddress, ModuleMap modules, PerfMap jit) {
    RingRecord.Module m = modules.find(returnAddress);
    if (m == null) {
      PerfMap.Hit hit = jit.lookup(returnAddress - 1);
      if (hit != null) {
        return Frame.newBuilder()
            .setModule(FrameNames.JIT_MODULE)
            .setFunction(hit.name())
            .setOffset(hit.offset() + 1)
            .setModuleOffset(returnAddress)
            .build();
      }
      return Frame.newBuilder()
          .setModule(UNKNOWN_MODULE)
          .setOffset(returnAddress)
          .setModuleOffset(returnAddress)
          .build();
    }
    long vaddr = returnAddress - m.loadBias();
    // A return address points after the call; the call itself (vaddr - 1) is in the caller's body.
    ElfSymbols.Hit hit = symbolsFor(m).lookup(vaddr - 1);
    Frame.Builder f =
        Frame.newBuilder()
            .setModule(fileName(m.path()))
            .setBuildId(m.buildId())
            .setModuleOffset(vaddr);
    if (hit != null) {
      f.setFunction(demangler.demangle(hit.name())).setOffset(hit.offset() + 1);
    } else {
      f.setOffset(vaddr);
    }
    return f.build();
  }

  static String fileName(String path) {
    int slash = path.lastIndexOf('/');
    return slash >= 0 ? path.substring(slash + 1) : path;
  }

  public synchronized long cacheHits() {
    return hits;
  }

  public synchronized long cacheMisses() {
    return misses;
  }
}
