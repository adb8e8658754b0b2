package io.leakwatch.streams.topology;

import io.leakwatch.streams.state.LiveAllocation;
import java.util.HashMap;
import java.util.Map;

/**
 * What one batch of events changes, gathered before anything is written: the change of each row of
 * the outstanding aggregate, and the counts the process state keeps. One store write per row and
 * batch, however many events touched it.
 */
final class BatchEffects {
  /** One row of the outstanding aggregate: kind, stack, size (its store key is built once). */
  record Row(int kind, long stackId, long size) {}

  /** The change of one row: estimated bytes and allocations, and recorded samples. */
  static final class Delta {
    double bytes;
    double allocations;
    long samples;

    boolean isNone() {
      return bytes == 0 && allocations == 0 && samples == 0;
    }
  }

  final Map<Row, Delta> deltas = new HashMap<>();

  /** Events at or below the highest sequence already applied (a collector's retry). */
  long duplicates;

  /** Frees (and unmaps) of nothing known: never made negative. */
  long unknownFrees;

  /** Allocations at an address still live: its free was lost, the old block is retired. */
  long replaced;

  /** Adds ({@code sign} +1) or removes (-1) a live allocation's share of its row. */
  void add(LiveAllocation a, int sign) {
    Delta d =
        deltas.computeIfAbsent(new Row(a.getKind(), a.getStackId(), a.getSize()), k -> new Delta());
    d.bytes += sign * a.getWeight();
    d.allocations += sign * (a.getSize() > 0 ? a.getWeight() / a.getSize() : 1.0);
    d.samples += sign;
  }
}
