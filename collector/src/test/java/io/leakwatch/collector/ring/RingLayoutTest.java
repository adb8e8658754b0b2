package io.leakwatch.collector.ring;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * RingLayout.java against the C headers it mirrors (wire_protocol.h, shared_ring_buffer.h), through
 * wire_layout.
 */
class RingLayoutTest {
  @Test
  void everyConstantTheCHeadersDefineMatchesTheJavaMirror() throws Exception {
    Path tool = Path.of("target/native/wire_layout");
    assertThat(tool).as("built by the native build (make all)").exists();
    Process p = new ProcessBuilder(tool.toString()).redirectErrorStream(true).start();
    Map<String, Long> c = new LinkedHashMap<>();
    try (BufferedReader r =
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line; (line = r.readLine()) != null; ) {
        int eq = line.indexOf('=');
        c.put(line.substring(0, eq), Long.parseLong(line.substring(eq + 1)));
      }
    }
    assertThat(p.waitFor()).isZero();
    assertThat(c).hasSizeGreaterThan(40);
    for (Map.Entry<String, Long> e : c.entrySet()) {
      Field f = RingLayout.class.getField(e.getKey());
      assertThat(((Number) f.get(null)).longValue()).as(e.getKey()).isEqualTo(e.getValue());
    }
  }
}
