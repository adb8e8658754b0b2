package io.leakwatch.streams;

import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.Dependency;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The streams-app's packages follow its data flow (docs/architecture.md): stores and the leak score
 * at the bottom, the topology above them, reports read what the topology keeps, and only the wiring
 * (this package) knows everything. A dependency against that direction fails here with the classes
 * that made it.
 */
class ArchitectureTest {
  private static final String ROOT = "io.leakwatch.streams";
  private static JavaClasses classes;

  @BeforeAll
  static void importMainClasses() {
    classes =
        new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages(ROOT);
    System.out.println("streams-app package dependencies (main code):\n" + picture());
  }

  @Test
  void packagesHaveNoCycles() {
    slices().matching(ROOT + ".(*)..").should().beFreeOfCycles().check(classes);
  }

  @Test
  void eachLayerUsesOnlyWhatLiesBelowIt() {
    layeredArchitecture()
        .consideringOnlyDependenciesInAnyPackage(ROOT + "..")
        .layer("wiring")
        .definedBy(ROOT)
        .layer("http")
        .definedBy(ROOT + ".http..")
        .layer("query")
        .definedBy(ROOT + ".query..")
        .layer("metrics")
        .definedBy(ROOT + ".metrics..")
        .layer("health")
        .definedBy(ROOT + ".health..")
        .layer("render")
        .definedBy(ROOT + ".render..")
        .layer("report")
        .definedBy(ROOT + ".report..")
        .layer("topology")
        .definedBy(ROOT + ".topology..")
        .layer("score")
        .definedBy(ROOT + ".score..")
        .layer("stores")
        .definedBy(ROOT + ".stores..")
        .layer("state")
        .definedBy(ROOT + ".state..")
        .whereLayer("wiring")
        .mayNotBeAccessedByAnyLayer()
        .whereLayer("http")
        .mayOnlyBeAccessedByLayers("wiring")
        .whereLayer("query")
        .mayOnlyBeAccessedByLayers("wiring", "http", "metrics")
        .whereLayer("metrics")
        .mayOnlyBeAccessedByLayers("wiring", "http")
        .whereLayer("health")
        .mayOnlyBeAccessedByLayers("wiring", "http")
        .whereLayer("render")
        .mayOnlyBeAccessedByLayers("wiring", "http")
        .whereLayer("report")
        .mayOnlyBeAccessedByLayers("wiring", "http", "query", "metrics", "render")
        .whereLayer("topology")
        .mayOnlyBeAccessedByLayers("wiring", "report", "query")
        .whereLayer("score")
        .mayOnlyBeAccessedByLayers("wiring", "report", "topology")
        .whereLayer("stores")
        .mayOnlyBeAccessedByLayers(
            "wiring", "http", "query", "metrics", "render", "report", "topology")
        .check(classes);
  }

  /** package -> the packages of this app it depends on, one line each (the test's output). */
  static String picture() {
    Map<String, Set<String>> deps = new TreeMap<>();
    for (JavaClass c : classes) {
      for (Dependency d : c.getDirectDependenciesFromSelf()) {
        String from = c.getPackageName(), to = d.getTargetClass().getPackageName();
        if (to.startsWith(ROOT) && !to.equals(from))
          deps.computeIfAbsent(short_(from), k -> new TreeSet<>()).add(short_(to));
      }
    }
    StringBuilder b = new StringBuilder();
    deps.forEach(
        (k, v) ->
            b.append("  ").append(k).append(" -> ").append(String.join(", ", v)).append('\n'));
    return b.toString();
  }

  private static String short_(String pkg) {
    return pkg.equals(ROOT) ? "(wiring)" : pkg.substring(ROOT.length() + 1);
  }
}
