package io.leakwatch.collector.symbols;

import io.leakwatch.collector.ring.RingRecord;
import io.leakwatch.schemas.Frame;
import io.leakwatch.schemas.StackDefinition;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Source file, line and inlined calls for the frames of new stacks, resolved on a thread of its own
 * so the publishing loop never waits for a debug file, a symbolizer or a debuginfod server.
 *
 * <p>A stack whose frames are all resolved already (the usual case once a module has been seen)
 * gets its lines at once. Otherwise it is published as it is, with function names, and its sites
 * are queued; when they are resolved, {@link #takeNamed()} gives the definition again under the
 * same id with file, line and inlined frames, and the collector publishes it over the first (the
 * stacks topic is compacted by id). A site that cannot be resolved (no debug info anywhere, a
 * corrupt or foreign file, a server that is slow or down) resolves to nothing: the frame keeps
 * {@code module!function+0xoffset}, and the reason is counted.
 */
public final class SourceLines implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SourceLines.class);
  private static final int MAX_ADDRESSES_PER_REQUEST = 512;
  private static final int MAX_CACHED_SITES = 500_000;

  /**
   * @param symbolizer the llvm-symbolizer executable, or null for no lines at all
   * @param timeout the longest one symbolizer request may take
   * @param maxSymbolizerRssBytes restart the symbolizer when it grows past this
   * @param debuginfod servers to ask when the host has no debug info (none: an empty list)
   * @param maxPendingStacks stacks waiting for lines; beyond it the oldest are published without
   */
  public record Options(
      String symbolizer,
      Duration timeout,
      long maxSymbolizerRssBytes,
      Debuginfod.Options debuginfod,
      int maxPendingStacks) {
    public boolean enabled() {
      return symbolizer != null;
    }

    /**
     * llvm-symbolizer from PATH (lines off without it), 10 s per request, restarted past 1 GiB;
     * debuginfod servers from DEBUGINFOD_URLS, cached where debuginfod's own client caches
     * (DEBUGINFOD_CACHE_PATH, else $XDG_CACHE_HOME or ~/.cache, under leakwatch/debuginfod), 2
     * minutes and 1 GiB per file, a missing file asked again after 10 minutes.
     */
    public static Options defaults() {
      return new Options(
          LlvmSymbolizer.findOnPath(),
          Duration.ofSeconds(10),
          1L << 30,
          new Debuginfod.Options(
              Debuginfod.Options.parseUrlsLeniently(System.getenv("DEBUGINFOD_URLS")),
              defaultCacheDir(),
              Duration.ofMinutes(2),
              1L << 30,
              Duration.ofMinutes(10)),
          10_000);
    }

    public Options withSymbolizer(String executable) {
      return new Options(executable, timeout, maxSymbolizerRssBytes, debuginfod, maxPendingStacks);
    }

    public Options withDebuginfod(Debuginfod.Options d) {
      return new Options(symbolizer, timeout, maxSymbolizerRssBytes, d, maxPendingStacks);
    }

    static Path defaultCacheDir() {
      String explicit = System.getenv("DEBUGINFOD_CACHE_PATH");
      if (explicit != null && !explicit.isBlank()) return Path.of(explicit);
      String xdg = System.getenv("XDG_CACHE_HOME");
      Path base =
          xdg != null && !xdg.isBlank()
              ? Path.of(xdg)
              : Path.of(System.getProperty("user.home"), ".cache");
      return base.resolve("leakwatch").resolve("debuginfod");
    }
  }

  /**
   * A code address to resolve: the call instruction of a return address ({@code vaddr} is the ELF
   * virtual address in the module's file, already one byte before the return address).
   */
  public record Site(RingRecord.Module module, Path file, long vaddr) {
    String moduleKey() {
      return module.buildId() != null ? "b:" + module.buildId() : "p:" + file;
    }
  }

  /** Told of every site resolved or failed, for the collector's metrics. */
  public interface Listener {
    void resolved(DebugFiles.Source source, int sites);

    void failed(String reason, int sites);
  }

  private record Pending(StackDefinition def, List<Site> sites, Set<String> mainModules) {}

  /** After a symbolizer failure on a module's sites, when they are asked again. */
  private static final long SYMBOLIZER_RETRY_MS = 60_000;

  /**
   * What is known of a module's debug info; a null file means none was found, and it is looked for
   * again (new sites of the module only) after {@code retryAtMs}: a server may be back, a debug
   * package installed.
   */
  private record ModuleInfo(Path file, DebugFiles.Source source, long retryAtMs) {}

  private final Options options;
  private final DebugFiles debugFiles;
  private final Debuginfod debuginfod;
  private final LlvmSymbolizer llvm;
  private final Listener listener;

  // Guarded by this.
  private final Map<String, Map<Long, List<LlvmSymbolizer.SourceLine>>> lines = new HashMap<>();
  private int cachedSites;
  private final Map<String, Site> moduleOf = new HashMap<>();
  private final Map<String, Set<Long>> wanted = new LinkedHashMap<>();
  private final LinkedHashMap<String, Pending> pending = new LinkedHashMap<>();
  private final Map<String, ModuleInfo> modules = new HashMap<>();

  /**
   * Modules whose sites resolved to nothing for a reason that may pass (no debug file yet, a
   * debuginfod server down, a symbolizer that failed), and when to ask again; the stacks that got
   * no line because of them wait in {@link #deferred} to be named again then.
   */
  private final Map<String, Long> retryModules = new HashMap<>();

  private final LinkedHashMap<String, Pending> deferred = new LinkedHashMap<>();
  private long progress;
  private long progressTaken;

  /** Ids of stacks given lines, most recent last (bounded): for a caller waiting to see them. */
  private final Map<String, Boolean> withLines =
      new LinkedHashMap<>(256, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> e) {
          return size() > 100_000;
        }
      };

  private boolean closed;

  private Thread worker;

  public SourceLines(Options options, DebugFiles debugFiles, Listener listener) {
    this.options = options;
    this.debugFiles = debugFiles;
    this.listener = listener;
    this.debuginfod =
        new Debuginfod(
            options.debuginfod() != null
                ? options.debuginfod()
                : new Debuginfod.Options(
                    List.of(), Path.of("/nonexistent"), Duration.ofSeconds(1), 0, Duration.ZERO),
            System::currentTimeMillis);
    this.llvm =
        options.enabled()
            ? new LlvmSymbolizer(
                options.symbolizer(), options.timeout(), options.maxSymbolizerRssBytes())
            : null;
  }

  public boolean enabled() {
    return llvm != null;
  }

  /** Starts the resolving thread (a daemon: it holds nothing a collector must finish). */
  public synchronized SourceLines start() {
    if (llvm == null || worker != null) return this;
    worker = new Thread(this::work, "leakwatch-source-lines");
    worker.setDaemon(true);
    worker.setPriority(Thread.MIN_PRIORITY);
    worker.start();
    return this;
  }

  /**
   * {@code def} with lines when every site is resolved already; otherwise {@code def} as it is, its
   * sites queued, and the richer definition given later by {@link #takeNamed()}.
   *
   * @param sites one per frame of {@code def}, null for frames outside every module (JIT code)
   */
  public synchronized StackDefinition annotate(
      StackDefinition def, List<Site> sites, Set<String> mainModules) {
    if (llvm == null || closed) return def;
    boolean complete = true;
    for (Site s : sites) {
      if (s == null || known(s)) continue;
      complete = false;
      moduleOf.putIfAbsent(s.moduleKey(), s);
      wanted.computeIfAbsent(s.moduleKey(), k -> new LinkedHashSet<>()).add(s.vaddr());
    }
    if (complete) return named(def, sites, mainModules);
    // (null sites, for JIT frames, are kept: List.copyOf would refuse them)
    pending.put(def.getId(), new Pending(def, new ArrayList<>(sites), mainModules));
    while (pending.size() > options.maxPendingStacks()) {
      Iterator<Pending> oldest = pending.values().iterator();
      oldest.next();
      oldest.remove();
      listener.failed("pending_overflow", 1);
    }
    notifyAll();
    return def;
  }

  /** Definitions whose lines were resolved since the last call, to publish again under their id. */
  public synchronized List<StackDefinition> takeNamed() {
    if (progress == progressTaken || pending.isEmpty()) return List.of();
    progressTaken = progress;
    List<StackDefinition> named = new ArrayList<>();
    for (Iterator<Pending> it = pending.values().iterator(); it.hasNext(); ) {
      Pending p = it.next();
      boolean complete = true;
      for (Site s : p.sites()) {
        if (s != null && !known(s)) {
          complete = false;
          break;
        }
      }
      if (!complete) continue;
      it.remove();
      if (p.sites().isEmpty()) {
        named.add(p.def()); // given back by retry(): already named, send it again
        continue;
      }
      StackDefinition richer = named(p.def(), p.sites(), p.mainModules());
      if (richer != p.def()) named.add(richer);
      else if (waitsForRetry(p)) defer(p); // resolved to nothing for now: asked again later
    }
    return named;
  }

  private boolean waitsForRetry(Pending p) {
    for (Site s : p.sites()) if (s != null && retryModules.containsKey(s.moduleKey())) return true;
    return false;
  }

  private void defer(Pending p) {
    deferred.put(p.def().getId(), p);
    while (deferred.size() > options.maxPendingStacks()) {
      Iterator<Pending> oldest = deferred.values().iterator();
      oldest.next();
      oldest.remove();
    }
  }

  /**
   * Modules due for another try: their unresolved sites are forgotten and wanted again, and the
   * stacks deferred on them wait for lines again. Returns ms until the next is due (0: none).
   */
  private long requeueDue(long now) {
    long next = 0;
    for (Iterator<Map.Entry<String, Long>> it = retryModules.entrySet().iterator();
        it.hasNext(); ) {
      Map.Entry<String, Long> e = it.next();
      if (e.getValue() > now) {
        next = next == 0 ? e.getValue() - now : Math.min(next, e.getValue() - now);
        continue;
      }
      it.remove();
      String key = e.getKey();
      Map<Long, List<LlvmSymbolizer.SourceLine>> m = lines.get(key);
      if (m != null) {
        int before = m.size();
        m.values().removeIf(List::isEmpty);
        cachedSites -= before - m.size();
      }
      for (Iterator<Pending> d = deferred.values().iterator(); d.hasNext(); ) {
        Pending p = d.next();
        boolean onIt = false;
        for (Site s : p.sites()) {
          if (s == null || !s.moduleKey().equals(key)) continue;
          onIt = true;
          moduleOf.putIfAbsent(key, s);
          wanted.computeIfAbsent(key, k -> new LinkedHashSet<>()).add(s.vaddr());
        }
        if (!onIt) continue;
        d.remove();
        pending.putIfAbsent(p.def().getId(), p);
      }
    }
    return next;
  }

  /** Publishing them failed: they are given again by the next {@link #takeNamed()}. */
  public synchronized void retry(List<StackDefinition> named) {
    for (StackDefinition d : named) {
      // Sites are all known: a pending entry whose sites are empty completes at once.
      pending.putIfAbsent(d.getId(), new Pending(d, List.of(), Set.of()));
    }
    progress++;
  }

  /** Whether stack {@code id} was given file and line (recently). */
  public synchronized boolean namedWithLines(String id) {
    return withLines.containsKey(id);
  }

  /** Stacks waiting for lines (a gauge). */
  public synchronized int pendingStacks() {
    return pending.size();
  }

  /** Starts of the llvm-symbolizer process so far (restarts after crashes, timeouts, growth). */
  public long symbolizerStarts() {
    return llvm == null ? 0 : llvm.starts();
  }

  private boolean known(Site s) {
    Map<Long, List<LlvmSymbolizer.SourceLine>> m = lines.get(s.moduleKey());
    return m != null && m.containsKey(s.vaddr());
  }

  private StackDefinition named(StackDefinition def, List<Site> sites, Set<String> mainModules) {
    if (sites.isEmpty()) return def; // already named (a retry)
    List<Frame> frames = def.getFrames();
    List<Frame> richer = new ArrayList<>(frames.size() + 4);
    boolean any = false;
    for (int i = 0; i < frames.size(); i++) {
      Frame f = frames.get(i);
      Site s = i < sites.size() ? sites.get(i) : null;
      List<LlvmSymbolizer.SourceLine> at =
          s == null ? null : lines.get(s.moduleKey()).get(s.vaddr());
      if (at == null || at.isEmpty()) {
        richer.add(f);
        continue;
      }
      any = true;
      richer.addAll(expand(f, at));
    }
    if (!any) return def;
    withLines.put(def.getId(), Boolean.TRUE);
    return StackIdentity.withLines(def, richer, mainModules);
  }

  /**
   * One physical frame as debug info sees it: a frame per inlined call (innermost first, marked
   * inlined, no offset of its own), then the frame itself with the file and line of its call. A
   * frame without a function name (a stripped binary) takes the debug info's.
   */
  static List<Frame> expand(Frame f, List<LlvmSymbolizer.SourceLine> at) {
    List<Frame> out = new ArrayList<>(at.size());
    for (int j = 0; j < at.size() - 1; j++) {
      LlvmSymbolizer.SourceLine l = at.get(j);
      out.add(
          Frame.newBuilder(f)
              .setFunction(l.function() != null ? l.function() : "??")
              .setOffset(0)
              .setFile(l.file())
              .setLine(l.line())
              .setInlined(true)
              .build());
    }
    LlvmSymbolizer.SourceLine outer = at.get(at.size() - 1);
    Frame.Builder physical = Frame.newBuilder(f).setFile(outer.file()).setLine(outer.line());
    if (f.getFunction() == null && outer.function() != null) {
      physical.setFunction(outer.function());
      // The offset was in the module; in the function when debug info says where it begins.
      long start = outer.start();
      if (start >= 0 && f.getModuleOffset() > start)
        physical.setOffset(f.getModuleOffset() - start);
    }
    out.add(physical.build());
    return out;
  }

  private void work() {
    while (true) {
      String key;
      Site module;
      long[] addresses;
      synchronized (this) {
        while (wanted.isEmpty() && !closed) {
          long due = requeueDue(System.currentTimeMillis());
          if (!wanted.isEmpty()) break;
          try {
            wait(due == 0 ? 0 : Math.max(1, due));
          } catch (InterruptedException e) {
            return;
          }
        }
        if (closed) return;
        requeueDue(System.currentTimeMillis()); // also on a host that always has new sites
        Iterator<Map.Entry<String, Set<Long>>> it = wanted.entrySet().iterator();
        Map.Entry<String, Set<Long>> e = it.next();
        key = e.getKey();
        module = moduleOf.get(key);
        Set<Long> all = e.getValue();
        int n = Math.min(all.size(), MAX_ADDRESSES_PER_REQUEST);
        addresses = new long[n];
        Iterator<Long> a = all.iterator();
        for (int i = 0; i < n; i++) {
          addresses[i] = a.next();
          a.remove();
        }
        if (all.isEmpty()) it.remove();
      }
      List<List<LlvmSymbolizer.SourceLine>> found = resolve(key, module, addresses);
      synchronized (this) {
        if (cachedSites + addresses.length > MAX_CACHED_SITES) {
          // Rare: a host with half a million distinct call sites starts over; what waits asks
          // again.
          lines.clear();
          cachedSites = 0;
          for (Pending p : pending.values()) {
            for (Site s : p.sites()) {
              if (s == null) continue;
              moduleOf.putIfAbsent(s.moduleKey(), s);
              wanted.computeIfAbsent(s.moduleKey(), k -> new LinkedHashSet<>()).add(s.vaddr());
            }
          }
        }
        Map<Long, List<LlvmSymbolizer.SourceLine>> m =
            lines.computeIfAbsent(key, k -> new HashMap<>());
        for (int i = 0; i < addresses.length; i++) {
          if (m.put(addresses[i], found == null ? List.of() : found.get(i)) == null) cachedSites++;
        }
        if (found == null) {
          // No debug file, a server down or a symbolizer that failed: ask again when the module
          // is looked for again (a new debug package, the server back).
          ModuleInfo info = modules.get(key);
          long at =
              info != null && info.file() == null
                  ? info.retryAtMs()
                  : System.currentTimeMillis() + SYMBOLIZER_RETRY_MS;
          retryModules.merge(key, at, Math::min);
        }
        progress++;
      }
    }
  }

  /** Lines of each address, or null when the module has no usable debug info. */
  private List<List<LlvmSymbolizer.SourceLine>> resolve(String key, Site module, long[] addresses) {
    ModuleInfo info;
    synchronized (this) {
      info = modules.get(key);
    }
    if (info == null || (info.file() == null && System.currentTimeMillis() >= info.retryAtMs())) {
      info = locate(module, addresses.length);
      synchronized (this) {
        modules.put(key, info);
      }
    }
    if (info.file() == null) return null;
    try {
      List<List<LlvmSymbolizer.SourceLine>> found = llvm.symbolize(info.file(), addresses);
      int withLines = 0;
      for (List<LlvmSymbolizer.SourceLine> l : found) if (!l.isEmpty()) withLines++;
      listener.resolved(info.source(), withLines);
      if (withLines < found.size())
        listener.failed("no_line_for_address", found.size() - withLines);
      return found;
    } catch (LookupFailure f) {
      listener.failed(f.reason(), addresses.length);
      log.debug("no lines for {}: {}", info.file(), f.getMessage());
      return null;
    }
  }

  private ModuleInfo locate(Site module, int sites) {
    ElfSymbols own = ElfSymbols.loadHeaders(module.file());
    List<String> mismatches = new ArrayList<>();
    DebugFiles.Found local = debugFiles.find(module.file(), own, mismatches::add);
    for (String m : mismatches) listener.failed(m, sites);
    if (local != null) return new ModuleInfo(local.file(), local.source(), 0);
    String buildId = module.module().buildId();
    if (debuginfod.configured() && buildId != null) {
      try {
        return new ModuleInfo(debuginfod.debugInfo(buildId), DebugFiles.Source.DEBUGINFOD, 0);
      } catch (LookupFailure f) {
        listener.failed("debuginfod_" + f.reason(), sites);
        log.debug("debuginfod: {}", f.getMessage());
      }
    } else {
      listener.failed("no_debug_info", sites);
    }
    long retry =
        options.debuginfod() == null ? 600_000 : options.debuginfod().retryAfter().toMillis();
    return new ModuleInfo(null, null, System.currentTimeMillis() + retry);
  }

  @Override
  public synchronized void close() {
    closed = true;
    notifyAll();
    if (llvm != null) llvm.close();
  }
}
