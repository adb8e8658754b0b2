package io.leakwatch.collector.symbols;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class DemanglerTest {
  private final Demangler d = new Demangler();

  @Test
  void readsCppNames() {
    assertThat(Demangler.available()).isTrue();
    assertThat(d.demangle("_ZN8Registry8rememberEv")).isEqualTo("Registry::remember()");
    assertThat(d.demangle("_Znwm")).isEqualTo("operator new(unsigned long)");
    assertThat(d.demangle("_ZNSt6vectorIiSaIiEE9push_backERKi"))
        .isEqualTo("std::vector<int, std::allocator<int> >::push_back(int const&)");
  }

  @Test
  void leavesEverythingElseAlone() {
    assertThat(d.demangle("malloc")).isEqualTo("malloc");
    assertThat(d.demangle("_Z")).isEqualTo("_Z");
    assertThat(d.demangle("_Zgarbage!!")).isEqualTo("_Zgarbage!!");
    assertThat(d.demangle(null)).isNull();
    String deep = "_Z" + "N1a".repeat(2000) + "E";
    assertThat(d.demangle(deep)).as("too long to hand to the demangler").isEqualTo(deep);
  }

  @Test
  void hostileNamesNeverCrashIt() {
    SplittableRandom rnd = new SplittableRandom(3);
    String alphabet = "_ZNSt0123456789EIvijmRKPSaSsSdlcT_S_S0_DpOCDCC1D0D1D2NKVSt3__1ILj";
    for (int i = 0; i < 20_000; i++) {
      StringBuilder b = new StringBuilder("_Z");
      int len = 1 + rnd.nextInt(120);
      for (int k = 0; k < len; k++) b.append(alphabet.charAt(rnd.nextInt(alphabet.length())));
      d.demangle(b.toString());
    }
  }
}
