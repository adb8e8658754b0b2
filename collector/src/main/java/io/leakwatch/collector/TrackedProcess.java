package io.leakwatch.collector;

import io.leakwatch.collector.proc.CommandRedaction;
import io.leakwatch.collector.proc.HsPerfData;
import io.leakwatch.collector.proc.ProcessNames;
import io.leakwatch.collector.ring.ModuleTableFile;
import io.leakwatch.collector.ring.RingFile;
import io.leakwatch.collector.ring.RingLayout;
import io.leakwatch.collector.ring.RingReader;
import io.leakwatch.collector.ring.RingRecord;
import io.leakwatch.collector.symbols.JitSymbols;
import io.leakwatch.collector.symbols.ModuleMap;
import io.leakwatch.collector.symbols.PerfMap;
import io.leakwatch.collector.symbols.ProcMaps;
import io.leakwatch.collector.symbols.SourceLines;
import io.leakwatch.collector.symbols.StackIdentity;
import io.leakwatch.collector.symbols.Symbolizer;
import io.leakwatch.schemas.AllocationEvent;
import io.leakwatch.schemas.AllocationKind;
import io.leakwatch.schemas.EventType;
import io.leakwatch.schemas.Frame;
import io.leakwatch.schemas.ProcessMessage;
import io.leakwatch.schemas.Resync;
import io.leakwatch.schemas.StackDefinition;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntFunction;
import org.slf4j.LoggerFactory;

/** One ring being followed: its reader, its modules, and its raw-stack to stack-id cache. */
final class TrackedProcess {
  private static final int STACK_CACHE_ENTRIES = 200_000;

  final RingFile ring;
  final RingReader reader;
  final String host;
  final int pid;
  final String name;
  final String command;
  final ModuleMap modules = new ModuleMap();
  private final Set<String> mainModules = new HashSet<>();
  private final Map<RawStack, Long> stackIds = new HashMap<>();

  /**
   * The last stack found in {@link #stackIds}, and its id: a flood comes from a loop, so the next
   * allocation's stack is most often the last one's, and one comparison of frames spares the
   * hashing and the lookup ({@code bench drain}: 2.04x the ring reader alone without, 1.86-1.88x
   * with). Null whenever stackIds is emptied.
   */
  private long[] lastFrames;

  private long lastStackId;
  private long resyncFrom = -1;
  private final Set<Long> touchedDuringResync = new HashSet<>();
  private final Map<Long, Long> resyncListed = new HashMap<>();
  private Resync completedResync;
  RingRecord.AllocatorStats allocatorStats;
  boolean startAnnounced;

  /**
   * PublishRound: the ring position from which no record has been published yet (-1: none read
   * since the last), and the loss count the streams-app was last told. A round whose events are all
   * held for their grace publishes nothing; the next record covers its stretch of the ring (a
   * successor collector starts where the ring was released to, which may be past it).
   */
  long unpublishedFrom = -1;

  long lostPublished;

  boolean sawExitRecord;
  long mapsCheckedAtMs; // ExitRetirement: an attached ring's process still maps it (no exec)
  long goneSeenAtScan = -1; // ExitRetirement: the scan count when its process was found gone
  long lastCountersMs;
  HsPerfData.Source managedHeap; // CounterSampler: where its JVM heap is read, found once

  /** Set when the process turns out to be a JVM (libjvm.so loaded) and perf maps are wanted. */
  private JitSymbols jit;

  private final IntFunction<JitSymbols> jitFactory;

  /**
   * Stacks named while some of their frames were in no module, with the perf map generation used.
   */
  private final Map<RawStack, long[]> provisional = new HashMap<>();

  /** Events held for their grace period, short-lived pairs dropped (see ShortLivedPairs). */
  final ShortLivedPairs pairs;

  /** Without a grace period events go straight to the batch: no holding on the hot path. */
  private final boolean holdsEvents;

  private void accept(AllocationEvent ev, long now, List<AllocationEvent> events) {
    if (holdsEvents) pairs.add(ev, now);
    else events.add(ev);
  }

  /** The process is gone: the next drain publishes everything held (then it can be retired). */
  boolean releaseAllHeld;

  /**
   * @param redaction masks secrets in the command line before it leaves the host (the name rules
   *     see the arguments as they are: a name is chosen here, never published with its secrets)
   */
  TrackedProcess(
      RingFile ring,
      String host,
      ProcessNames names,
      CommandRedaction redaction,
      long pairGraceMs,
      LongAdder pairsDropped,
      IntFunction<JitSymbols> jitFactory) {
    this.pairs = new ShortLivedPairs(pairGraceMs * 1_000_000L, pairsDropped);
    this.holdsEvents = pairGraceMs > 0;
    this.jitFactory = jitFactory;
    this.ring = ring;
    this.reader = new RingReader(ring);
    this.host = host;
    this.pid = ring.pid();
    List<String> cmd = ring.cmdline();
    this.name = names.name(cmd, kernelComm(pid));
    this.command = String.join(" ", redaction.redact(cmd));
    // A collector resuming a ring (its predecessor was restarted or killed) finds the shim's module
    // records already consumed: name frames from /proc/PID/maps until the ring brings module
    // records
    // again. A ring read from its start still holds them, so this is only done when resuming.
    // The table this collector's predecessor saved comes first (it outlives the process, and has
    // the
    // shim's build ids).
    // A predecessor collector may have sent what it read without releasing the ring: never pair
    // what was already written when this one started.
    if (reader.position() > 0) pairs.neverPairUpTo(ring.writePosition());
    if (reader.position() > 0) {
      for (RingRecord.Module m : ModuleTableFile.load(ring.path())) {
        modules.add(m);
        if (m.mainExecutable()) mainModules.add(fileName(m.path()));
        noticeJvm(m);
      }
      for (RingRecord.Module m : ProcMaps.modules(Path.of("/proc"), pid)) {
        if (modules.find(m.lo()) != null) continue;
        modules.add(m);
        if (m.mainExecutable()) mainModules.add(fileName(m.path()));
        noticeJvm(m);
      }
    }
  }

  private void noticeJvm(RingRecord.Module m) {
    if (jit == null && jitFactory != null && fileName(m.path()).equals("libjvm.so"))
      jit = jitFactory.apply(pid);
  }

  /** The kernel's command name, or null when the process is gone or unreadable. */
  private static String kernelComm(int pid) {
    try {
      String c = Files.readString(Path.of("/proc", Integer.toString(pid), "comm")).strip();
      return c.isEmpty() ? null : c;
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /** Raw frames are compared by value; addresses are per process, so the cache is too. */
  private record RawStack(long[] frames) {
    @Override
    public boolean equals(Object o) {
      return o instanceof RawStack r && Arrays.equals(frames, r.frames);
    }

    @Override
    public int hashCode() {
      return Arrays.hashCode(frames);
    }
  }

  /**
   * Reads up to {@code max} records into events; stacks seen for the first time are symbolized and
   * added to {@code newStacks}.
   */
  int drain(
      int max,
      Symbolizer symbolizer,
      List<AllocationEvent> events,
      List<StackDefinition> newStacks) {
    long now = System.nanoTime();
    int n =
        reader.pollUntil(
            max,
            r -> {
              if (r instanceof RingRecord.Alloc a) {
                // The all-args constructor: a builder looks up and copies every field's default
                // value per event (a fifth of the drain's time in an exact-mode flood).
                accept(
                    new AllocationEvent(
                        a.seq(),
                        EventType.ALLOC,
                        kind(a.kind()),
                        a.address(),
                        a.size(),
                        a.weight(),
                        a.timestampNs(),
                        stackId(a.frames(), symbolizer, newStacks),
                        a.threadId()),
                    now,
                    events);
                if (resyncFrom >= 0) touchedDuringResync.add(a.address());
              } else if (r instanceof RingRecord.Free f) {
                if (holdsEvents
                    && kind(f.kind()) == AllocationKind.HEAP
                    && pairs.dropsFree(f.seq(), f.address())) {
                  if (resyncFrom >= 0) touchedDuringResync.add(f.address());
                  return true;
                }
                accept(
                    new AllocationEvent(
                        f.seq(),
                        EventType.FREE,
                        kind(f.kind()),
                        f.address(),
                        f.length(),
                        0.0,
                        0L,
                        0L,
                        0),
                    now,
                    events);
                if (resyncFrom >= 0) touchedDuringResync.add(f.address());
              } else if (r instanceof RingRecord.Module m) {
                modules.add(m);
                modulesChanged = true;
                if (m.mainExecutable()) mainModules.add(fileName(m.path()));
                noticeJvm(m);
              } else if (r instanceof RingRecord.Exit) {
                sawExitRecord = true;
              } else if (r instanceof RingRecord.AllocatorStats st) {
                allocatorStats = st;
              } else if (r instanceof RingRecord.ResyncBegin b) {
                resyncFrom = b.seq(); // a list left unfinished before is forgotten
                touchedDuringResync.clear();
                resyncListed.clear();
              } else if (r instanceof RingRecord.ResyncEntries e && resyncFrom >= 0) {
                for (int i = 0; i < e.addresses().length; i++)
                  resyncListed.put(e.addresses()[i], e.sizes()[i]);
              } else if (r instanceof RingRecord.ResyncEnd && resyncFrom >= 0) {
                completedResync = buildResync();
                resyncFrom = -1;
                return false; // the resync applies right after the events before its end: close the
                // batch here
              }
              return true;
            });
    // Everything held goes when a resync ends (it applies after every event before its end), when
    // the process is gone, and when the ring is a fifth full: holding longer would risk its
    // writers'
    // records, and the shim writes a resync (the repair after an overflow) only while the ring is
    // at
    // most a quarter full. Otherwise what has waited out its grace period.
    if (completedResync != null
        || sawExitRecord
        || releaseAllHeld
        || ring.exitedFlag()
        || ring.fill() > 0.2) {
      pairs.releaseAll(events);
    } else {
      pairs.releaseDue(now, events);
    }
    if (modulesChanged) {
      // Saved before the round releases the records that brought them (see ModuleTableFile).
      try {
        ModuleTableFile.save(ring.path(), modules.all());
        modulesChanged = false;
      } catch (IOException | RuntimeException e) {
        // A full run directory (the next drain tries again; /proc/PID/maps stands in meanwhile), or
        // a
        // bug: the table only helps a successor collector, and must never stop this one's rounds.
        if (!saveFailureLogged) {
          saveFailureLogged = true;
          LoggerFactory.getLogger(TrackedProcess.class)
              .warn("cannot save the module table of {}: {}", ring.path(), e.toString());
        }
      }
    }
    return n;
  }

  private boolean saveFailureLogged;
  private boolean linesFailureLogged;

  /** Rounds in which draining this ring failed (logged the first time). */
  int drainFailureLogged;

  /**
   * Modules learned (from the ring or /proc/PID/maps) since the table was last saved beside the
   * ring.
   */
  private boolean modulesChanged;

  /** The listed blocks minus those an event inside the window already settles. */
  private Resync buildResync() {
    List<Long> addresses = new ArrayList<>();
    List<Long> sizes = new ArrayList<>();
    List<Double> weights = new ArrayList<>();
    long r = ring.sampleBytes();
    resyncListed.forEach(
        (address, size) -> {
          if (touchedDuringResync.contains(address)) return;
          addresses.add(address);
          sizes.add(size);
          weights.add(r == 0 || size == 0 ? (double) size : size / -Math.expm1(-(double) size / r));
        });
    touchedDuringResync.clear();
    resyncListed.clear();
    return Resync.newBuilder()
        .setFromSeq(resyncFrom)
        .setAddresses(addresses)
        .setSizes(sizes)
        .setWeights(weights)
        .build();
  }

  /** Where the ring may be released to once this round is acknowledged: the oldest event held. */
  long releasablePosition() {
    long held = pairs.oldestHeldSeq();
    return held >= 0 ? held : reader.position();
  }

  /**
   * The round failed: the ring is read again from the oldest held event, so forget what is held.
   */
  void rewind() {
    // What was read may have been sent: it must not be paired when it is read again.
    pairs.neverPairUpTo(reader.position());
    reader.rewind();
    // Rounds that published nothing may have released ring space past the last record's end: the
    // next record still covers the ring from there (or from further back, where reading restarts).
    if (unpublishedFrom >= 0) unpublishedFrom = Math.min(unpublishedFrom, reader.position());
    pairs.clear();
    // The stacks defined while reading it went out in the same failed round: forget them, so
    // reading again defines them again and the round sends them again (a stack id in a batch whose
    // definition never reached the stacks topic stays unnamed for good).
    stackIds.clear();
    lastFrames = null;
    provisional.clear();
  }

  /** A resync completed by the last drain, once. */
  Resync takeResync() {
    Resync r = completedResync;
    completedResync = null;
    return r;
  }

  /**
   * When the last /proc/PID/maps read was (System.nanoTime), so a JIT's endless unknown frames cost
   * one read a second.
   */
  private long mapsReadNs = System.nanoTime() - 2_000_000_000L;

  /**
   * A frame in no module the shim reported: a library loaded after the process started (the shim
   * writes modules at start and at exit, and does not hook dlopen). Read them from /proc/PID/maps
   * while the process lives, at most once a second.
   */
  private void refreshModulesFor(long[] frames) {
    boolean unknown = false;
    for (long f : frames) {
      if (modules.find(f) == null) {
        unknown = true;
        break;
      }
    }
    long now = System.nanoTime();
    if (!unknown || now - mapsReadNs < 1_000_000_000L) return;
    mapsReadNs = now;
    for (RingRecord.Module m : ProcMaps.modules(Path.of("/proc"), pid)) {
      if (modules.find(m.lo()) != null)
        continue; // the shim's own record of it is better (build id)
      modules.add(m);
      modulesChanged = true;
      noticeJvm(m);
    }
  }

  private long stackId(long[] frames, Symbolizer symbolizer, List<StackDefinition> newStacks) {
    if (lastFrames != null && Arrays.equals(frames, lastFrames)) return lastStackId;
    RawStack key = new RawStack(frames);
    Long id = stackIds.get(key);
    if (id != null) {
      lastFrames = frames;
      lastStackId = id;
      return id;
    }
    // A stack with frames in no module (a JVM's JIT code not yet in its perf map) keeps its id
    // until a newer perf map may name it; then it is named again (and gets the id of its new name).
    long[] prov = provisional.get(key);
    if (prov != null && (jit == null || prov[1] == jit.generation())) {
      if (jit != null) jit.unresolvedSeen(System.currentTimeMillis());
      return prov[0];
    }
    refreshModulesFor(frames);
    PerfMap map = jit == null ? PerfMap.EMPTY : jit.map();
    int generation = jit == null ? 0 : jit.generation();
    List<Frame> named = new ArrayList<>(frames.length);
    boolean unresolved = false;
    for (long f : frames) {
      Frame fr = symbolizer.frame(f, modules, map);
      unresolved |= Symbolizer.UNKNOWN_MODULE.equals(fr.getModule());
      named.add(fr);
    }
    StackDefinition def = StackIdentity.define(named, mainModules);
    SourceLines lines = symbolizer.sourceLines();
    if (lines != null) {
      try {
        List<SourceLines.Site> sites = new ArrayList<>(frames.length);
        for (long f : frames) sites.add(symbolizer.site(f, modules));
        def = lines.annotate(def, sites, Set.copyOf(mainModules));
      } catch (RuntimeException e) {
        // Lines are a nicety: a bug there must never hold the ring (the drain would fail, rewind
        // and fail again on the same record for ever). The stack goes out with its names.
        if (!linesFailureLogged) {
          linesFailureLogged = true;
          LoggerFactory.getLogger(TrackedProcess.class)
              .warn("no source lines for the stacks of pid {}: {}", pid, e.toString());
        }
      }
    }
    long value = Long.parseUnsignedLong(def.getId(), 16);
    if (stackIds.size() >= STACK_CACHE_ENTRIES) stackIds.clear();
    if (provisional.size() >= STACK_CACHE_ENTRIES) provisional.clear();
    if (unresolved && jit != null && !jit.givenUp()) {
      provisional.put(key, new long[] {value, generation});
      jit.unresolvedSeen(System.currentTimeMillis());
    } else {
      provisional.remove(key);
      stackIds.put(key, value);
      lastFrames = frames;
      lastStackId = value;
    }
    newStacks.add(def);
    return value;
  }

  /** Events this process lost before reaching Kafka: the shim's drops and unreadable records. */
  long lostEvents() {
    return ring.stat(RingLayout.STAT_DROPPED_FULL)
        + ring.stat(RingLayout.STAT_DROPPED_OVERSIZE)
        + ring.stat(RingLayout.STAT_LIVE_SET_FULL)
        + ring.stat(RingLayout.STAT_DROPPED_CONTENTION)
        + ring.stat(RingLayout.STAT_DROPPED_UNRESERVED)
        + ring.stat(RingLayout.STAT_LIVE_SET_BUSY)
        + reader.corruptRecords()
        + reader.abandonedRecords();
  }

  /**
   * {@code body} (a start, a batch, an exit) in the envelope that says which process, on which
   * host, it is about.
   */
  ProcessMessage message(Object body) {
    return ProcessMessage.newBuilder()
        .setHost(host)
        .setPid(pid)
        .setProcessStartTicks(ring.procStartTicks())
        .setBody(body)
        .build();
  }

  private static AllocationKind kind(int k) {
    return k == 1 ? AllocationKind.MMAP : AllocationKind.HEAP;
  }

  private static String fileName(String path) {
    int slash = path.lastIndexOf('/');
    return slash >= 0 ? path.substring(slash + 1) : path;
  }
}
