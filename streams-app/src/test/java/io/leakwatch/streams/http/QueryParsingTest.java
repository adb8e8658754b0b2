package io.leakwatch.streams.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The query string is someone else's text: parsed, or refused as a bad request, never more. */
class QueryParsingTest {
  @Test
  void ordinaryAndOddQueries() {
    assertThat(HttpApi.query("host=a%2Fb&pid=7&local"))
        .isEqualTo(Map.of("host", "a/b", "pid", "7", "local", ""));
    assertThat(HttpApi.query("&&process=%3Cscript%3E&")).containsEntry("process", "<script>");
    assertThatThrownBy(() -> HttpApi.query("pid=1&pid=2"))
        .isInstanceOf(HttpApi.BadRequest.class)
        .hasMessageContaining("twice");
    assertThatThrownBy(() -> HttpApi.query("host=%zz")).isInstanceOf(HttpApi.BadRequest.class);
    assertThatThrownBy(() -> HttpApi.query("a=" + "x".repeat(5000)))
        .isInstanceOf(HttpApi.BadRequest.class);
  }

  @Test
  void fuzzedQueriesAreParsedOrRefusedAsBadRequests() {
    Random rnd = new Random(11);
    String alphabet = "ab=&%+;/?#.-_~ 0123456789AFaf\u00e9\u2028\u0000\uffff";
    for (int i = 0; i < 50_000; i++) {
      StringBuilder b = new StringBuilder();
      int n = rnd.nextInt(40);
      for (int j = 0; j < n; j++) b.append(alphabet.charAt(rnd.nextInt(alphabet.length())));
      try {
        Map<String, String> q = HttpApi.query(b.toString());
        assertThat(q.size()).isLessThanOrEqualTo(n);
      } catch (HttpApi.BadRequest expected) {
        assertThat(expected.getMessage()).isNotBlank();
      }
    }
  }
}
