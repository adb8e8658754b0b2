package io.leakwatch.streams.query;

import io.leakwatch.streams.report.FleetRollup;
import io.leakwatch.streams.report.ReportService;
import io.leakwatch.streams.report.model.FleetReport;
import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.ProcessSummary;
import io.leakwatch.streams.report.model.ReportJson;
import io.leakwatch.streams.stores.Keys;
import io.leakwatch.streams.stores.StoreNames;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import org.apache.kafka.streams.errors.InvalidStateStoreException;
import org.apache.kafka.streams.state.HostInfo;

/**
 * Answers for the whole application from any instance: which instance owns a process (its report
 * and history live there) and how the instances' shares of a list or a roll-up are merged. The HTTP
 * layer only parses requests and renders what this returns.
 *
 * <p>A request forwarded from a peer asks with {@code localOnly} and is never forwarded again.
 * Without peers (a single instance, tests) everything is local.
 */
public final class QueryService {
  private final ReportService reports;
  private final Peers peers;

  /**
   * @param peers the other instances, null when this one answers alone
   */
  public QueryService(ReportService reports, Peers peers) {
    this.reports = reports;
    this.peers = peers;
  }

  /**
   * The instance that owns a process, when it is another one (and this request may be forwarded).
   */
  public Optional<HostInfo> remoteOwner(String host, int pid, boolean localOnly) {
    if (localOnly || peers == null) return Optional.empty();
    return peers.remoteOwner(StoreNames.PROCESSES, Keys.process(host, pid));
  }

  /** GET a page or API path from another instance (with {@code local=true} in its query). */
  public HttpResponse<byte[]> forward(HostInfo owner, String pathAndQuery) throws IOException {
    return peers.get(owner, pathAndQuery);
  }

  /** A process's report from whichever instance owns it. */
  public Optional<ProcessReport> report(String host, int pid, boolean localOnly) {
    Optional<HostInfo> owner = remoteOwner(host, pid, localOnly);
    if (owner.isEmpty()) return reports.report(host, pid);
    try {
      var resp =
          forward(owner.get(), "/api/report?host=" + encode(host) + "&pid=" + pid + "&local=true");
      if (resp.statusCode() == 404) return Optional.empty();
      if (resp.statusCode() != 200)
        throw new InvalidStateStoreException(
            "owner " + owner.get() + " answered " + resp.statusCode());
      return Optional.of(ReportJson.read(resp.body(), ProcessReport.class));
    } catch (IOException | UncheckedIOException e) {
      throw new InvalidStateStoreException(
          "owner " + owner.get() + " unreachable: " + e.getMessage());
    }
  }

  /** Every instance's processes (or this one's), largest first. */
  public List<ProcessSummary> processes(boolean localOnly) {
    List<ProcessSummary> all = new ArrayList<>(reports.processes());
    if (localOnly || peers == null) return all;
    for (HostInfo peer : peers.others()) {
      try {
        var resp = forward(peer, "/api/processes?local=true");
        if (resp.statusCode() != 200) continue; // restoring: its share shows up on the next look
        all.addAll(List.of(ReportJson.read(resp.body(), ProcessSummary[].class)));
      } catch (IOException | UncheckedIOException e) {
        // an unreachable peer's processes are missing until it answers again
      }
    }
    all.sort(Comparator.comparingLong((ProcessSummary p) -> -p.outstandingBytes()));
    return all;
  }

  /**
   * One program across the fleet: this instance's processes of that name, merged with the others'
   * roll-ups.
   */
  public FleetReport fleet(String program, boolean localOnly) throws IOException {
    FleetRollup rollup = new FleetRollup(program);
    for (ProcessSummary p : reports.processes()) {
      if (p.exited() || !p.name().equals(program)) continue;
      reports.report(p.host(), p.pid()).ifPresent(rollup::addReport);
    }
    if (!localOnly && peers != null) {
      for (HostInfo peer : peers.others()) {
        var resp = forward(peer, "/api/fleet?process=" + encode(program) + "&local=true");
        if (resp.statusCode() == 200)
          rollup.addRollup(ReportJson.read(resp.body(), FleetReport.class));
      }
    }
    return rollup.toReport();
  }

  /** This instance's own report of a process (a diff's history lives with it). */
  public Optional<ProcessReport> localReport(String host, int pid) {
    return reports.report(host, pid);
  }

  public static String encode(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }
}
