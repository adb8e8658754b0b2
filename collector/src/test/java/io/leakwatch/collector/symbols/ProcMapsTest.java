package io.leakwatch.collector.symbols;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.collector.ring.RingRecord;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProcMapsTest {
  @Test
  void modulesOfALiveProcessNameItsFunctions() throws Exception {
    int pid = (int) ProcessHandle.current().pid();
    List<RingRecord.Module> modules = ProcMaps.modules(Path.of("/proc"), pid);
    RingRecord.Module libc =
        modules.stream().filter(m -> m.path().contains("libc.so")).findFirst().orElseThrow();
    assertThat(modules).anyMatch(RingRecord.Module::mainExecutable);
    // The bias is right if libc's own 'malloc' symbol maps back to its runtime address range.
    ElfSymbols syms = ElfSymbols.load(Path.of(libc.path()));
    long malloc = syms.address("malloc");
    long runtime = malloc + libc.loadBias();
    assertThat(Long.compareUnsigned(runtime, libc.lo())).isGreaterThanOrEqualTo(0);
    assertThat(Long.compareUnsigned(runtime, libc.hi())).isLessThan(0);
    ModuleMap map = new ModuleMap();
    modules.forEach(map::add);

    Symbolizer symbolizer = new Symbolizer();
    var frame = symbolizer.frame(runtime + 8, map);
    assertThat(frame.getFunction())
        .as(
            frame
                + " via "
                + map.find(runtime + 8)
                + " symbols "
                + symbolizer.symbolsFor(map.find(runtime + 8)).size()
                + " lookup "
                + symbolizer.symbolsFor(map.find(runtime + 8)).lookup(malloc + 7))
        .isIn("malloc", "__libc_malloc");
  }

  @Test
  void malformedMapsAndGoneProcessesGiveNothing(@TempDir Path fake) throws Exception {
    assertThat(ProcMaps.modules(Path.of("/proc"), Integer.MAX_VALUE)).isEmpty();
    Path p = Files.createDirectories(fake.resolve("5"));
    Files.writeString(
        p.resolve("maps"), "zzzz\n-1 r-xp 0 0 1 /x\n7f-zz r-xp 0 08:01 7 /lib/nothere.so\n\n");
    assertThat(ProcMaps.modules(fake, 5)).isEmpty();
    assertThat(ProcMaps.firstLoadVaddr(Path.of("/nonexistent"))).isEqualTo(-1);
  }
}
