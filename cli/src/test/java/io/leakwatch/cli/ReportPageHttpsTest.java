package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.security.crypto.bcrypt.BCrypt;

/**
 * The report pages as a browser meets them behind the web configuration: over HTTPS with a
 * certificate of our own, asking for credentials, and whole (script, style, flame graph) with them.
 */
class ReportPageHttpsTest {
  @TempDir Path dir;

  @Test
  void thePagesOverHttpsWithBasicAuth() throws Exception {
    Process openssl =
        new ProcessBuilder(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                dir.resolve("server.key").toString(),
                "-out",
                dir.resolve("server.crt").toString(),
                "-days",
                "2",
                "-subj",
                "/CN=leakwatch-test",
                "-addext",
                "subjectAltName=IP:127.0.0.1")
            .redirectErrorStream(true)
            .start();
    openssl.getInputStream().readAllBytes();
    assertThat(openssl.waitFor(30, TimeUnit.SECONDS)).isTrue();
    Files.writeString(
        dir.resolve("web.yml"),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
            + "basic_auth_users:\n  alice: "
            + BCrypt.hashpw("alice-pw", BCrypt.gensalt(4))
            + "\n");
    // Chromium trusts exactly this certificate's key (as a pinned test CA would be trusted).
    X509Certificate cert;
    try (InputStream in = Files.newInputStream(dir.resolve("server.crt"))) {
      cert = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
    }
    String spki =
        Base64.getEncoder()
            .encodeToString(
                MessageDigest.getInstance("SHA-256").digest(cert.getPublicKey().getEncoded()));
    try (LocalStack stack =
            LocalStack.start(
                LocalStack.Options.headless()
                    .withHttpPort(0)
                    .withWebConfig(dir.resolve("web.yml")));
        Chromium browser = new Chromium(List.of("--ignore-certificate-errors-spki-list=" + spki))) {
      Process service =
          Targets.tracked(stack.runDir, Home.demoService().toString(), "60", "400")
              .redirectOutput(ProcessBuilder.Redirect.DISCARD)
              .start();
      try {
        long deadline = System.currentTimeMillis() + 90_000;
        while (System.currentTimeMillis() < deadline) {
          var r = stack.streams.reports().report(stack.host, (int) service.pid());
          if (r.isPresent() && r.get().stacksResolved() && !r.get().stacks().isEmpty()) break;
          Thread.sleep(250);
        }
        String url =
            "https://127.0.0.1:"
                + stack.streams.httpPort()
                + "/process?host="
                + stack.host
                + "&pid="
                + service.pid();
        browser.open(url);
        // Without credentials the server asks for them (401): no report on the page.
        assertThat(browser.eval("document.querySelector('#allocators') === null").asBoolean())
            .isTrue();
        browser.headers(
            Map.of(
                "Authorization",
                "Basic "
                    + Base64.getEncoder()
                        .encodeToString("alice:alice-pw".getBytes(StandardCharsets.UTF_8))));
        browser.open(url);
        assertThat(browser.eval("location.protocol").asText()).isEqualTo("https:");
        assertThat(
                browser
                    .eval(
                        "document.querySelector('#allocators tr:nth-child(2) td.module').textContent")
                    .asText())
            .isNotBlank();
        assertThat(browser.eval("document.querySelectorAll('#flame .fr').length").asInt())
            .as("the script ran and drew the flame graph over HTTPS")
            .isGreaterThan(1);
        assertThat(browser.problems()).as("console errors, exceptions, CSP violations").isEmpty();
      } finally {
        service.destroy();
        service.waitFor(10, TimeUnit.SECONDS);
      }
    }
  }
}
