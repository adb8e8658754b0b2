package io.leakwatch.streams.render;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.ReportJson;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;

/**
 * The profile of unusual reports: empty, unnamed frames, names that are not text anyone expects.
 */
class PprofProfileTest {

  private static String decompressed(byte[] gz) throws Exception {
    return new String(
        new GZIPInputStream(new ByteArrayInputStream(gz)).readAllBytes(),
        StandardCharsets.ISO_8859_1);
  }

  @Test
  void anEmptyReportIsAValidEmptyProfile() throws Exception {
    byte[] p = PprofProfile.of(ReportJson.read("{}", ProcessReport.class));
    assertThat(decompressed(p)).contains("inuse_space").contains("inuse_objects");
  }

  @Test
  void unnamedAndHostileFramesAreStillLocations() throws Exception {
    String report =
        """
        {"process": {"name": "x", "pid": 1, "host": "h"}, "tracking": {"mode": "exact", "startedAt": "not a time", "seconds": -5},
         "stacks": [{"id": "1", "allocator": "[unknown]", "culprit": "[unknown]", "bytes": 100, "allocations": 1,
                     "frames": [{"module": "[unknown]", "display": "[unknown]+0x7f00", "moduleOffset": -1},
                                {"module": "m\\u0000</script>", "function": "f\\u2028\\uffff", "line": -3, "moduleOffset": 9223372036854775807}],
                     "sizes": []}]}
        """;
    String body = decompressed(PprofProfile.of(ReportJson.read(report, ProcessReport.class)));
    assertThat(body).contains("[unknown]+0x7f00").contains("</script>");
  }
}
