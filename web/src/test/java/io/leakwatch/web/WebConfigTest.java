package io.leakwatch.web;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.security.crypto.bcrypt.BCrypt;

/** Web configuration files with mistakes are refused with their reason; none crashes the reader. */
class WebConfigTest {
  @TempDir Path dir;

  private Path file(String text) throws Exception {
    return Files.writeString(dir.resolve("web.yml"), text);
  }

  private void refused(String text, String reason) throws Exception {
    Path f = file(text);
    assertThatThrownBy(() -> WebConfig.load(f))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(reason);
  }

  @Test
  void mistakesAreRefusedWithTheirReason() throws Exception {
    String hash = BCrypt.hashpw("pw", BCrypt.gensalt(4));
    refused(
        "tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n",
        "is not a readable file");
    refused("basic_auth_users:\n  alice: hunter2\n", "basic_auth_users.alice is not a bcrypt hash");
    refused(
        "basic_auth_users:\n  alice: " + hash + "\nleakwatch_roles:\n  metrics: [bob]\n",
        "names 'bob', who is not in basic_auth_users");
    refused("basic_auth_user:\n  alice: " + hash + "\n", "unknown setting 'basic_auth_user'");
    refused(
        "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [X]\n",
        "unknown setting 'tls_server_config.cipher_suites'");
    refused("- just\n- a list\n", "the top level must be a mapping");
    refused("tls_server_config: [1]\n", "tls_server_config must be a mapping");
    refused("{{{{", "not a readable YAML");
    Files.writeString(
        dir.resolve("a.crt"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    Files.writeString(dir.resolve("a.key"), "not a key");
    refused(
        "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n",
        "a.crt is not a PEM certificate file");
    TestCa ca = new TestCa("ca");
    ca.server(dir.resolve("s.crt"), dir.resolve("s.key"));
    ca.server(dir.resolve("t.crt"), dir.resolve("t.key"));
    refused(
        "tls_server_config:\n  cert_file: s.crt\n  key_file: t.key\n", "t.key is not the key of");
    refused(
        "tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n  client_auth_type: RequireAndVerifyClientCert\n",
        "needs client_ca_file");
    refused(
        "tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n  client_auth_type: Sometimes\n",
        "client_auth_type must be one of");
    WebConfig ok =
        WebConfig.load(
            file(
                "tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\nbasic_auth_users:\n  a: "
                    + hash
                    + "\n"));
    assertThat(ok.tls()).isNotNull();
    assertThat(ok.roleOf("a")).isEqualTo(Role.READ);
    assertThat(WebConfig.load(file("")).authenticates()).isFalse();
  }

  /** Random bytes and random YAML-ish text: refused with a reason or read, never anything else. */
  @Test
  void fuzzedFilesAreReadOrRefusedNeverThrownAtUs() throws Exception {
    Random rnd = new Random(7);
    String[] pieces = {
      "tls_server_config:",
      "basic_auth_users:",
      "  alice: ",
      "$2y$10$",
      "leakwatch_roles:",
      "  metrics: [",
      "]",
      "\n",
      "  ",
      "- ",
      "{",
      "}",
      ":",
      "&a",
      "*a",
      "!!binary",
      "\"",
      "'",
      "#"
    };
    for (int i = 0; i < 3_000; i++) {
      StringBuilder b = new StringBuilder();
      int n = rnd.nextInt(20);
      for (int j = 0; j < n; j++) {
        if (rnd.nextInt(5) == 0) b.append((char) rnd.nextInt(0x3000));
        else b.append(pieces[rnd.nextInt(pieces.length)]);
      }
      Path f = file(b.toString());
      try {
        WebConfig.load(f);
      } catch (IllegalArgumentException expected) {
        assertThat(expected.getMessage()).startsWith(f.toString());
      }
    }
  }
}
