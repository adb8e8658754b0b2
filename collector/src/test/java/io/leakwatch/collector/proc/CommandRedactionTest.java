package io.leakwatch.collector.proc;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class CommandRedactionTest {
  private static String redact(String... argv) {
    return String.join(" ", CommandRedaction.DEFAULT.redact(List.of(argv)));
  }

  @Test
  void theUsualPlacesOfSecretsAreMasked() {
    assertThat(redact("app", "--password=hunter2", "--port=80"))
        .isEqualTo("app --password=*** --port=80");
    assertThat(redact("app", "--db-password", "hunter2", "--verbose"))
        .isEqualTo("app --db-password *** --verbose");
    assertThat(
            redact(
                "java", "-Djavax.net.ssl.keyStorePassword=changeit", "-Dfoo=bar", "-jar", "x.jar"))
        .isEqualTo("java -Djavax.net.ssl.keyStorePassword=*** -Dfoo=bar -jar x.jar");
    assertThat(redact("curl", "https://alice:s3cr3t@example.com/path?token=abc&x=1"))
        .isEqualTo("curl https://alice:***@example.com/path?token=***&x=1");
    assertThat(redact("psql", "host=db user=app password=hunter2 dbname=x"))
        .isEqualTo("psql host=db user=app password=*** dbname=x");
    assertThat(
            redact(
                "svc",
                "--api-key=AKIA123",
                "--client_secret=zzz",
                "SECRET_TOKEN=t0k",
                "--auth-token",
                "t"))
        .isEqualTo("svc --api-key=*** --client_secret=*** SECRET_TOKEN=*** --auth-token ***");
    assertThat(redact("redis-server", "--requirepass", "pw"))
        .isEqualTo("redis-server --requirepass ***");
  }

  /** What a review found getting through, now masked. */
  @Test
  void theHarderCases() {
    assertThat(redact("mysql", "-uroot", "-phunter2", "db")).isEqualTo("mysql -uroot -p*** db");
    assertThat(redact("redis-cli", "-a", "hunter2", "ping")).isEqualTo("redis-cli -a *** ping");
    assertThat(redact("sshpass", "-p", "hunter2", "ssh", "h")).isEqualTo("sshpass -p *** ssh h");
    assertThat(
            redact(
                "curl", "-u", "alice:hunter2", "-H", "Authorization: Bearer abc.def", "https://x"))
        .isEqualTo("curl -u alice:*** -H Authorization: *** https://x");
    assertThat(redact("curl", "-H", "X-Api-Key: k123")).isEqualTo("curl -H X-Api-Key: ***");
    assertThat(redact("app", "--password=ab,cd ef")).isEqualTo("app --password=***");
    assertThat(redact("app", "https://u:p@ss/w@host/db")).isEqualTo("app https://u:***@host/db");
    assertThat(redact("rsync", "alice:hunter2@backup.example.com:/srv"))
        .isEqualTo("rsync alice:***@backup.example.com:/srv");
    assertThat(redact("docker", "login", "--password-stdin", "registry"))
        .isEqualTo("docker login --password-stdin registry");
  }

  @Test
  void ordinaryArgumentsStayAsTheyAre() {
    assertThat(redact("nginx", "-g", "daemon off;", "--port=8080", "/etc/passwd-backup/file"))
        .isEqualTo("nginx -g daemon off; --port=8080 /etc/passwd-backup/file");
    assertThat(redact("python3", "-m", "test", "test_subprocess"))
        .isEqualTo("python3 -m test test_subprocess");
    assertThat(redact()).isEmpty();
    assertThat(redact("--password"))
        .as("a secret option last: nothing follows to mask")
        .isEqualTo("--password");
  }

  @Test
  void configuredPatternsAddToTheDefaultsOrReplaceThem() {
    CommandRedaction both =
        new CommandRedaction(List.of(Pattern.compile("--license=(?<secret>[A-Z0-9-]+)")), true);
    assertThat(String.join(" ", both.redact(List.of("app", "--license=AB-12", "--password=x"))))
        .isEqualTo("app --license=*** --password=***");
    CommandRedaction only = new CommandRedaction(List.of(Pattern.compile("sk_live_\\w+")), false);
    assertThat(String.join(" ", only.redact(List.of("app", "key=sk_live_abc", "--password=x"))))
        .isEqualTo("app key=*** --password=x");
    assertThat(CommandRedaction.NONE.redact(List.of("--password=x")))
        .containsExactly("--password=x");
  }

  /**
   * Random arguments around planted secrets: every secret is gone, one argument in gives one out.
   */
  @Test
  void fuzzedArgumentsNeverKeepAPlantedSecret() {
    Random rnd = new Random(42);
    String alphabet = "ab=-_.:/@&;?, \t\"'\\\u00e9\u0000xyzPASSWORDtoken";
    String[] keys = {
      "--password=", "-Dx.password=", "token=", "--api_key=", "?access_token=", "pwd="
    };
    for (int i = 0; i < 20_000; i++) {
      List<String> argv = new ArrayList<>();
      List<String> secrets = new ArrayList<>();
      int n = rnd.nextInt(6);
      for (int j = 0; j < n; j++) {
        StringBuilder b = new StringBuilder();
        int len = rnd.nextInt(20);
        for (int k = 0; k < len; k++) b.append(alphabet.charAt(rnd.nextInt(alphabet.length())));
        if (rnd.nextInt(3) == 0) {
          String secret = "S" + Long.toHexString(rnd.nextLong() | 1L << 60) + "Z";
          secrets.add(secret);
          b.append(rnd.nextBoolean() ? " " : "")
              .append(keys[rnd.nextInt(keys.length)])
              .append(secret);
        }
        argv.add(b.toString());
      }
      List<String> out = CommandRedaction.DEFAULT.redact(argv);
      assertThat(out).hasSameSizeAs(argv);
      String joined = String.join(" ", out);
      for (String s : secrets) assertThat(joined).as("input %s", argv).doesNotContain(s);
    }
  }
}
