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

  @Test
  void aRoundThatFailedSendsItsStackDefinitionsAgain() throws Exception {
    List<Path> rings =
        NativeRuns.run(
            Files.createDirectories(tmp.resolve("rings")),
            0,
            1 << 20,
            NativeRuns.churn().toString(),
            "-t",
            "1",
            "-p",
            "200",
            "-n",
            "3",
            "-s",
            "100");
    try (RingFile ring = RingFile.open(rings.get(0))) {
      TrackedProcess tp =
          new TrackedProcess(
              ring, "h", ProcessNames.DEFAULT, CommandRedaction.DEFAULT, 0, new LongAdder(), null);
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
    List<Path> rings =
        NativeRuns.run(
            Files.createDirectories(tmp.resolve("rings")),
            0,
            1 << 22,
            NativeRuns.churn().toString(),
            "-t",
            "1",
            "-p",
            "5000",
            "-n",
            "3",
            "-s",
            "100",
            "-m",
            "realloc");
    try (RingFile ring = RingFile.open(rings.get(0))) {
      TrackedProcess tp =
          new TrackedProcess(
              ring, "h", ProcessNames.DEFAULT, CommandRedaction.DEFAULT, 0, new LongAdder(), null);
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
