package io.leakwatch.streams.report;

import io.leakwatch.streams.report.model.Counters;
import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.Tracking;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** What a reader should doubt in a report before trusting its numbers. */
public final class Caveats {
  private Caveats() {}

  public static List<String> of(ProcessReport r) {
    List<String> w = new ArrayList<>();
    Tracking t = r.tracking();
    Counters c = r.counters();
    if (t.lostEvents() > 0) {
      w.add(
          t.lostEvents()
              + " events were lost before reaching Kafka: numbers are incomplete"
              + (t.sampled() ? " until the next resync" : "")
              + ".");
    }
    long outstanding = r.outstanding().bytes();
    long priv = c.privateBytes() == null ? 0 : c.privateBytes();
    long managed = c.managedHeapBytes() == null ? 0 : c.managedHeapBytes();
    try {
      if (c.processStartedAt() != null && t.startedAt() != null) {
        long late =
            Instant.parse(t.startedAt()).getEpochSecond()
                - Instant.parse(c.processStartedAt()).getEpochSecond();
        if (late > 60) {
          w.add(
              "Tracking began "
                  + Units.duration(late)
                  + " after the process started: allocations made before are not seen, so a"
                  + " leak that started earlier is understated (private bytes "
                  + Units.bytes(priv)
                  + ", tracked outstanding "
                  + Units.bytes(outstanding)
                  + ").");
        }
      }
    } catch (RuntimeException e) {
      // unparseable times: no warning
    }
    if (priv > 0 && outstanding + managed < priv / 4 && priv > (256L << 20)) {
      w.add(
          "Tracked native allocations and the managed heap explain only "
              + (100 * (outstanding + managed) / priv)
              + "% of private bytes: the rest is code, thread stacks, untracked mappings or memory allocated before tracking.");
    }
    return w;
  }
}
