package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.leakwatch.streams.render.ReportFormat;
import io.leakwatch.streams.report.model.ProcessReport;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The report pages in headless Chromium against a real streams-app fed by real runs: the demo's
 * leaking service, and a program whose symbol names are HTML and script. Screenshots go to
 * cli/target/screenshots.
 */
class ReportPageBrowserTest {
  private static final Path SHOTS = Path.of("target", "screenshots");
  private static LocalStack stack;
  private static Chromium browser;
  private static Process service;
  private static Process hostile;
  private static String base;

  @BeforeAll
  static void start() throws Exception {
    stack =
        LocalStack.start(LocalStack.Options.headless().withHttpPort(0).withHistoryIntervalMs(1000));
    base = "http://127.0.0.1:" + stack.streams.httpPort();
    service = tracked(Home.demoService().toString(), "60", "400");
    hostile = tracked(Home.nativeDir().resolve("hostile-names").toString(), "60");
    // Both processes reported with named stacks, some history, and a stack snapshot for the diff.
    long deadline = System.currentTimeMillis() + 90_000;
    while (System.currentTimeMillis() < deadline) {
      boolean ready =
          resolved(service)
              && resolved(hostile)
              && stack.streams.history().points(stack.host + "/" + service.pid()).size() >= 8
              && !stack.streams.history().snapshots(stack.host + "/" + service.pid()).isEmpty();
      if (ready) break;
      Thread.sleep(250);
    }
    browser = new Chromium();
  }

  private static Process tracked(String... command) throws Exception {
    return Targets.tracked(stack.runDir, command)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
        .start();
  }

  private static boolean resolved(Process p) {
    Optional<com.fasterxml.jackson.databind.node.ObjectNode> r =
        stack.streams.reports().report(stack.host, (int) p.pid()).map(Targets::json);
    return r.isPresent()
        && r.get().path("stacksResolved").asBoolean()
        && r.get().path("stacks").size() > 0;
  }

  @AfterAll
  static void stop() throws Exception {
    if (browser != null) browser.close();
    for (Process p : new Process[] {service, hostile}) {
      if (p != null) {
        p.destroy();
        p.waitFor(10, TimeUnit.SECONDS);
      }
    }
    if (stack != null) stack.close();
  }

  private static String processUrl(Process p) {
    return base
        + "/process?host="
        + java.net.URLEncoder.encode(stack.host, java.nio.charset.StandardCharsets.UTF_8)
        + "&pid="
        + p.pid();
  }

  @Test
  void fleetOverviewRanksTheGrowingServiceFirst() throws Exception {
    browser.open(base + "/?sort=growth");
    browser.screenshot(SHOTS.resolve("fleet-overview.png"));
    assertThat(
            browser
                .eval("document.querySelector('#processes tr:nth-child(2) td a').textContent")
                .asText())
        .isEqualTo("leaky-service");
    assertThat(browser.eval("document.querySelectorAll('#processes svg.spark').length").asInt())
        .isGreaterThanOrEqualTo(1);
    assertThat(browser.eval("document.querySelector('#programs').textContent").asText())
        .contains("leaky-service");
    assertThat(browser.problems()).as("console errors, exceptions, CSP violations").isEmpty();
  }

  @Test
  void processPageShowsTheTopAllocatorAndTheLeakingStackFirst() throws Exception {
    browser.open(processUrl(service));
    browser.screenshot(SHOTS.resolve("process-page.png"));
    assertThat(
            browser
                .eval("document.querySelector('#allocators tr:nth-child(2) td.module').textContent")
                .asText())
        .isEqualTo("libtoykey.so");
    assertThat(
            browser
                .eval("document.querySelector('#stacks article.stack code.culprit').textContent")
                .asText())
        .contains("verify_signature");
    assertThat(
            browser
                .eval("document.querySelector('#stacks article.stack .hint-release').textContent")
                .asText())
        .contains("toy_derive_key")
        .contains("toy_destroy_key");
    assertThat(browser.eval("document.querySelector('#allocators').textContent").asText())
        .contains("422-byte chunks");
    assertThat(browser.problems()).isEmpty();
  }

  @Test
  void theFlameGraphZoomsOnClick() throws Exception {
    browser.open(processUrl(service));
    int before = browser.eval("document.querySelectorAll('#flame .fr').length").asInt();
    assertThat(before).isGreaterThan(3);
    String clicked =
        browser
            .eval(
                "(() => { const f = [...document.querySelectorAll('#flame .fr')]"
                    + ".find(e => e.dataset.name.includes('verify_signature')); f.click(); return f.dataset.name; })()")
            .asText();
    assertThat(clicked).contains("verify_signature");
    // the box names the line to open (the demo is built with -g): in its text and its title
    JsonNode box =
        browser.eval(
            "(() => { const f = [...document.querySelectorAll('#flame .fr')]"
                + ".find(e => e.dataset.name.includes('verify_signature'));"
                + " return [f.dataset.source || '', f.textContent, f.title]; })()");
    assertThat(box.get(0).asText()).matches("(?s).*leaky_service\\.c:\\d+.*");
    assertThat(box.get(1).asText()).containsPattern("leaky_service\\.c:\\d+ \\(");
    assertThat(box.get(2).asText()).contains(box.get(0).asText());
    assertThat(browser.eval("document.getElementById('flame').dataset.zoom").asText())
        .isEqualTo(clicked);
    assertThat(browser.eval("document.querySelector('#flame .fr.root').dataset.name").asText())
        .isEqualTo(clicked);
    browser.screenshot(SHOTS.resolve("flame-zoomed.png"));
    browser.eval("document.querySelector('#flame .fr.root').click()");
    assertThat(browser.eval("document.getElementById('flame').dataset.zoom").asText())
        .isNotEqualTo(clicked);
    assertThat(browser.problems()).isEmpty();
  }

  @Test
  void theDiffShowsWhatGrew() throws Exception {
    Thread.sleep(2000);
    String url = processUrl(service).replace("/process?", "/diff?") + "&minutes=1";
    browser.open(url);
    browser.screenshot(SHOTS.resolve("diff.png"));
    JsonNode top = browser.eval("document.querySelector('#diff tr:nth-child(2)').textContent");
    assertThat(top.asText()).contains("verify_signature").contains("+");
    assertThat(browser.problems()).isEmpty();
  }

  /**
   * What {@code run --report html --report-file F} writes: one page that opens from disk (style,
   * script and data inline, no link to a server that is not there), under its own CSP that allows
   * only our inline style and script, and still inert with hostile names.
   */
  @Test
  void aReportFileStandsAloneAndOpensFromDisk() throws Exception {
    Path dir = Files.createTempDirectory("leakwatch-page-");
    for (Process p : List.of(service, hostile)) {
      ProcessReport report =
          stack.streams.reports().report(stack.host, (int) p.pid()).orElseThrow();
      Path file = dir.resolve("report-" + p.pid() + ".html");
      Files.write(file, ReportFormat.HTML.render(report, null, true));
      browser.open(file.toUri().toString());
      if (p == service) browser.screenshot(SHOTS.resolve("report-file.png"));
      assertThat(browser.eval("document.querySelectorAll('#flame .fr').length").asInt())
          .as("the flame graph drew from the inline data")
          .isGreaterThan(1);
      assertThat(
              browser
                  .eval(
                      "[...document.querySelectorAll('[href],[src]')].map(e => e.getAttribute('href') || e.getAttribute('src')).join(' ')")
                  .asText())
          .as("nothing links to a server")
          .isEmpty();
      assertThat(browser.eval("document.querySelectorAll('img').length").asInt()).isZero();
      assertThat(browser.eval("document.querySelectorAll('script').length").asInt())
          .as("our one inline script")
          .isEqualTo(1);
      assertThat(browser.problems()).as("console errors, exceptions, CSP violations").isEmpty();
    }
    String text = browser.eval("document.body.textContent").asText();
    assertThat(text)
        .contains("<img src=x onerror=alert(1)>")
        .contains("</script><script>alert(2)</script>");
    assertThat(browser.dialogs()).isEmpty();
  }

  @Test
  void symbolNamesMadeOfHtmlAndScriptAreShownAsText() throws Exception {
    browser.open(processUrl(hostile));
    browser.screenshot(SHOTS.resolve("hostile-names.png"));
    String text = browser.eval("document.body.textContent").asText();
    assertThat(text)
        .contains("<img src=x onerror=alert(1)>")
        .contains("</script><script>alert(2)</script>");
    assertThat(browser.eval("document.querySelectorAll('img').length").asInt()).isZero();
    assertThat(
            browser
                .eval(
                    "document.querySelectorAll('script:not([src]):not([type=\"application/json\"])').length")
                .asInt())
        .isZero();
    // The flame graph gets the same names through its JSON block: still text.
    assertThat(
            browser
                .eval(
                    "[...document.querySelectorAll('#flame .fr')].some(e => e.dataset.name.includes('onerror'))")
                .asBoolean())
        .isTrue();
    Thread.sleep(500);
    assertThat(browser.dialogs()).as("no script of theirs ran").isEmpty();
    assertThat(browser.problems()).isEmpty();
  }
}
