package io.leakwatch.streams.render;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.streams.report.History;
import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.ReportJson;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The pages as HTML (Chromium checks them as a browser sees them: ReportPageBrowserTest). */
class ReportPageTest {
  private static ProcessReport contractReport() throws Exception {
    String golden =
        Files.readString(
            Path.of("src/test/resources/io/leakwatch/streams/report/report-contract-live.json"));
    return ReportJson.read(golden.substring(golden.indexOf("report:\n") + 8), ProcessReport.class);
  }

  private static String sha256(String s) throws Exception {
    return "sha256-"
        + Base64.getEncoder()
            .encodeToString(
                MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
  }

  @Test
  void aStandalonePageInlinesItsAssetsUnderAHashPolicyAndLinksNowhere() throws Exception {
    String page =
        new String(ReportFormat.HTML.render(contractReport(), null, true), StandardCharsets.UTF_8);
    assertThat(page).doesNotContain("/static/").doesNotContain("/api/").doesNotContain("href=\"/");
    Matcher style = Pattern.compile("<style>(.*?)</style>", Pattern.DOTALL).matcher(page);
    Matcher script = Pattern.compile("<script>(.*?)</script>", Pattern.DOTALL).matcher(page);
    assertThat(style.find()).isTrue();
    assertThat(script.find()).isTrue();
    // (quotes in the attribute are written as &#39;: the browser reads them back as quotes)
    assertThat(page.replace("&#39;", "'"))
        .contains("style-src '" + sha256(style.group(1)) + "'")
        .contains("script-src '" + sha256(script.group(1)) + "'")
        .contains("data-tree=");
  }

  @Test
  void framesWithDebugInfoShowTheirFileAndLineOnThePageAndInTheText() throws Exception {
    String page =
        new String(ReportFormat.HTML.render(contractReport(), null, false), StandardCharsets.UTF_8);
    assertThat(page).contains("<span class=\"src\">toykey.c:42</span>");
    String text =
        new String(ReportFormat.TEXT.render(contractReport(), null, false), StandardCharsets.UTF_8);
    assertThat(text).containsPattern("(?m)^    \\S+!\\S+\\+0x[0-9a-f]+  toykey\\.c:42$");
  }

  @Test
  void thePageSaysWhatItsWindowsReallyAre() throws Exception {
    // A local session (run, demo): 2 s history points, 10 s trend windows.
    History local = new History(History.Windows.of(2_000, 10_000));
    String page =
        new String(
            ReportFormat.HTML.render(contractReport(), local, false), StandardCharsets.UTF_8);
    assertThat(page)
        .contains("the last 12 trend windows of 10 s")
        .contains("one every 12 s, the last 12 min kept");
    // Only diffs the kept snapshots can answer: 5 min and the 12 kept, not 15 or 60.
    assertThat(page).contains("minutes=5\">").contains("minutes=12\">last 12 min");
    assertThat(page).doesNotContain("minutes=15").doesNotContain("minutes=60");

    String fleet =
        new String(
            ReportFormat.HTML.render(contractReport(), new History(), false),
            StandardCharsets.UTF_8);
    assertThat(fleet)
        .contains("trend windows of 5 min")
        .contains("one every 1 min, the last 1 h kept")
        .contains("minutes=60");
  }

  @Test
  void theServerPageLinksItsAssetsAndTheApi() throws Exception {
    String page =
        new String(ReportFormat.HTML.render(contractReport(), null, false), StandardCharsets.UTF_8);
    assertThat(page)
        .contains("/static/leakwatch.js")
        .contains("/api/report?host=host-a&amp;pid=4242");
    assertThat(page).doesNotContain("<style>").doesNotContain("<script>");
  }

  @Test
  void binaryUnitsAndHumanDurationsOnThePage() throws Exception {
    String page =
        new String(ReportFormat.HTML.render(contractReport(), null, false), StandardCharsets.UTF_8);
    assertThat(page)
        .contains("2.4 MiB")
        .contains("(1 h)")
        .doesNotContain(" MB")
        .doesNotContain(" KB");
  }
}
