package io.leakwatch.collector;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.collector.proc.CommandRedaction;
import io.leakwatch.collector.proc.ProcessNames;
import io.leakwatch.collector.ring.RingFile;
import io.leakwatch.collector.symbols.Symbolizer;
import io.leakwatch.schemas.AllocationEvent;
import io.leakwatch.schemas.EventType;
import io.leakwatch.schemas.StackDefinition;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One process's ring as the collector reads it, across a round that Kafka did not acknowledge. */
class TrackedProcessTest {
  @TempDir Path tmp;

  /** The exact-mode ring of churn run with these arguments (one thread, 100-byte leaks). */
  private Path churnRing(long ringBytes, String... args) throws Exception {
    List<String> command =
        new ArrayList<>(List.of(NativeRuns.churn().toString(), "-t", "1", "-n", "3", "-s", "100"));
    command.addAll(List.of(args));
    return NativeRuns.run(
            Files.createDirectories(tmp.resolve("rings")),
            0,
            ringBytes,
            command.toArray(String[]::new))
        .get(0);
  }

  private static TrackedProcess unpaired(RingFile ring) {
    return new TrackedProcess(
        ring, "h", ProcessNames.DEFAULT, CommandRedaction.DEFAULT, 0, new LongAdder(), null);
  }

  @Test
  void aRoundThatFailedSendsItsStackDefinitionsAgain() throws Exception {
    try (RingFile ring = RingFile.open(churnRing(1 << 20, "-p", "200"))) {
      TrackedProcess tp = unpaired(ring);
      Symbolizer symbolizer = new Symbolizer();
      List<StackDefinition> first = new ArrayList<>();
      tp.drain(100_000, symbolizer, new ArrayList<AllocationEvent>(), first);
      assertThat(first).isNotEmpty();

      tp.rewind(); // the round was not acknowledged: read again from the released position

      List<StackDefinition> again = new ArrayList<>();
      tp.drain(100_000, symbolizer, new ArrayList<AllocationEvent>(), again);
      assertThat(again)
          .extracting(StackDefinition::getId)
          .containsExactlyInAnyOrderElementsOf(first.stream().map(StackDefinition::getId).toList());
    }
  }

  @Test
  void stacksThatAlternateGetTheIdsTheirDefinitionsGive() throws Exception {
    // realloc churn: each block comes from malloc, then realloc, two stacks one after the other,
    // so the last stack remembered is the wrong one half the time
    try (RingFile ring = RingFile.open(churnRing(1 << 22, "-p", "5000", "-m", "realloc"))) {
      TrackedProcess tp = unpaired(ring);
      List<AllocationEvent> events = new ArrayList<>();
      List<StackDefinition> defined = new ArrayList<>();
      tp.drain(1_000_000, new Symbolizer(), events, defined);

      Map<Long, StackDefinition> byId = new HashMap<>();
      for (StackDefinition d : defined) byId.put(Long.parseUnsignedLong(d.getId(), 16), d);
      List<AllocationEvent> allocs =
          events.stream().filter(e -> e.getType() == EventType.ALLOC).toList();
      assertThat(allocs).hasSizeGreaterThan(10_000);
      assertThat(allocs).allSatisfy(e -> assertThat(byId).containsKey(e.getStackId()));
      // worker's malloc and realloc call sites: two stacks, each with its own id
      Set<Long> workerIds = new HashSet<>();
      for (AllocationEvent e : allocs)
        if (byId.get(e.getStackId()).getFrames().get(0).getFunction().equals("worker"))
          workerIds.add(e.getStackId());
      assertThat(workerIds).hasSize(2);
    }
  }
}
