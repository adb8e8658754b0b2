package io.leakwatch.collector.symbols;

import io.leakwatch.collector.ring.RingRecord;
import java.util.ArrayList;
import java.util.List;

/**
 * The ELF objects loaded in one process, from the shim's module records (so frames can be named
 * even after the process is gone). A module that overlaps a newer one (dlclose, then something else
 * mapped there) is replaced by the newer.
 */
public final class ModuleMap {
  private final List<RingRecord.Module> modules = new ArrayList<>();

  public void add(RingRecord.Module m) {
    if (m.hi() <= m.lo() || m.path().isEmpty()) return;
    for (RingRecord.Module old : modules) {
      if (old.lo() == m.lo() && old.hi() == m.hi() && old.path().equals(m.path())) return;
    }
    modules.removeIf(
        old ->
            Long.compareUnsigned(old.lo(), m.hi()) < 0
                && Long.compareUnsigned(m.lo(), old.hi()) < 0);
    int i = 0;
    while (i < modules.size() && Long.compareUnsigned(modules.get(i).lo(), m.lo()) < 0) i++;
    modules.add(i, m);
  }

  /** The module whose address range holds {@code address}, or null. */
  public RingRecord.Module find(long address) {
    int lo = 0, hi = modules.size() - 1;
    while (lo <= hi) {
      int mid = (lo + hi) >>> 1;
      RingRecord.Module m = modules.get(mid);
      if (Long.compareUnsigned(address, m.lo()) < 0) {
        hi = mid - 1;
      } else if (Long.compareUnsigned(address, m.hi()) >= 0) {
        lo = mid + 1;
      } else {
        return m;
      }
    }
    return null;
  }

  /** Every module, by address. */
  public List<RingRecord.Module> all() {
    return List.copyOf(modules);
  }

  public int size() {
    return modules.size();
  }
}
