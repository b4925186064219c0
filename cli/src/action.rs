//! `salve action build` and `salve action inspect`.

use crate::args::CacheArgs;
use crate::exit::{CliResult, Exit, ExitWith, Failure};
use crate::setup;
use anyhow::{Context, anyhow};
use salve::{Capability, CapabilityClass, ImportKind, Os, Package, Runtime, classify_import};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What `inspect` reports about a package.
#[derive(Debug, Serialize)]
pub struct Report {
    pub id: String,
    pub version: String,
    pub description: String,
    pub package: PathBuf,
    pub component: String,
    pub component_bytes: usize,
    pub sha256: String,
    pub input: String,
    pub output: String,
    pub capabilities: Vec<CapabilityReport>,
    pub imports: Vec<ImportReport>,
    /// Why the runtime would refuse the package; empty when it would run it.
    pub problems: Vec<String>,
    /// What an author may want to change.
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct CapabilityReport {
    pub name: &'static str,
    pub class: CapabilityClass,
    pub declared: bool,
    pub imported: bool,
    /// The parameters on each system that declares the capability; a
    /// system it is not declared on is absent.
    pub parameters: BTreeMap<Os, Vec<String>>,
}

#[derive(Debug, Serialize)]
pub struct ImportReport {
    pub interface: String,
    /// `base-wasi`, `types`, `capability` or `forbidden`.
    pub kind: &'static str,
    pub note: String,
}

pub fn build(dir: &Path, out: Option<&Path>, json: bool) -> CliResult {
    let cargo_toml = dir.join("Cargo.toml");
    if !cargo_toml.is_file() || !dir.join(salve::package::MANIFEST_FILE).is_file() {
        return Err(anyhow!(
            "{} is not an action crate: it needs a Cargo.toml and an action.toml",
            dir.display()
        ))
        .exit_with(Exit::Usage);
    }
    eprintln!("Building {} for {} …", dir.display(), salve_pack::TARGET);
    let components =
        salve_pack::compile(&salve_pack::Compile::new(&cargo_toml)).exit_with(Exit::Failed)?;
    let wanted = std::fs::canonicalize(dir)
        .with_context(|| format!("cannot resolve {}", dir.display()))
        .exit_with(Exit::Usage)?;
    let component = components
        .iter()
        .find(|c| std::fs::canonicalize(&c.crate_dir).is_ok_and(|d| d == wanted))
        .or_else(|| components.first().filter(|_| components.len() == 1))
        .ok_or_else(|| anyhow!("cargo built no component for {}", dir.display()))
        .exit_with(Exit::Failed)?;
    let out = out.unwrap_or(dir);
    let assembled =
        salve_pack::assemble(&component.crate_dir, &component.wasm, out).exit_with(Exit::Failed)?;
    eprintln!(
        "Packaged {} (sha256 {})",
        assembled.component.display(),
        assembled.sha256
    );
    inspect(
        &assembled.dir,
        json,
        &CacheArgs {
            cache_dir: None,
            no_cache: false,
        },
    )
}

pub fn inspect(dir: &Path, json: bool, cache: &CacheArgs) -> CliResult {
    let package = Package::open(dir).exit_with(Exit::Refused)?;
    let runtime = setup::runtime(cache)?;
    let report = report(&runtime, &package)?;
    if json {
        let text = serde_json::to_string_pretty(&report)
            .context("cannot encode the report")
            .exit_with(Exit::Failed)?;
        println!("{text}");
    } else {
        print_report(&report);
    }
    Ok(if report.problems.is_empty() {
        Exit::Success
    } else {
        Exit::Refused
    })
}

fn report(runtime: &Runtime, package: &Package) -> Result<Report, Failure> {
    let manifest = package.manifest();
    let imports = runtime
        .component_imports(package)
        .exit_with(Exit::Refused)?;
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let declared = manifest.capabilities.names_on_any_os();
    let mut imported = salve::CapabilityNames::empty();
    let mut import_reports = Vec::new();
    for interface in &imports {
        let (kind, note) = match classify_import(interface) {
            Ok(ImportKind::BaseWasi) => {
                ("base-wasi", "linked against an empty context".to_string())
            }
            Ok(ImportKind::Types) => ("types", "shared types of the action world".to_string()),
            Ok(ImportKind::Capability(capability)) => {
                imported = imported.with(capability);
                if declared.contains(capability) {
                    (
                        "capability",
                        format!("capability {capability} ({})", capability.class()),
                    )
                } else {
                    problems.push(format!(
                        "the component imports `{interface}` but the manifest does not declare the `{capability}` capability"
                    ));
                    (
                        "capability",
                        format!("capability {capability} — NOT DECLARED"),
                    )
                }
            }
            Err(forbidden) => {
                problems.push(format!("`{interface}` is refused: {}", forbidden.reason));
                ("forbidden", forbidden.reason)
            }
        };
        import_reports.push(ImportReport {
            interface: interface.clone(),
            kind,
            note,
        });
    }
    let mut capabilities = Vec::new();
    for capability in Capability::ALL {
        let is_declared = declared.contains(capability);
        let is_imported = imported.contains(capability);
        if !is_declared && !is_imported {
            continue;
        }
        if is_declared && !is_imported && capability != Capability::Log {
            warnings.push(format!(
                "`{capability}` is declared but the component never calls it: remove it to narrow what the action can be granted"
            ));
        }
        capabilities.push(CapabilityReport {
            name: capability.name(),
            class: capability.class(),
            declared: is_declared,
            imported: is_imported,
            parameters: Os::ALL
                .into_iter()
                .filter_map(|os| {
                    let on = manifest.capabilities.on(os).parameters(capability)?;
                    Some((os, on))
                })
                .collect(),
        });
    }
    if let Err(error) = runtime.config().limits.resolve(&manifest.limits) {
        problems.push(error.to_string());
    }
    Ok(Report {
        id: manifest.id.to_string(),
        version: manifest.version.to_string(),
        description: manifest.description.to_string(),
        package: package.dir().to_path_buf(),
        component: manifest.component.file.to_string(),
        component_bytes: package.component().len(),
        sha256: package.digest().to_string(),
        input: describe(&manifest.input),
        output: describe(&manifest.output),
        capabilities,
        imports: import_reports,
        problems,
        warnings,
    })
}

fn describe(data: &salve::manifest::DataDescription) -> String {
    match &data.example {
        Some(example) => format!("{} Example: {}", data.description, example),
        None => data.description.to_string(),
    }
}

/// A capability's parameters as the report shows them: one line when every
/// system has the same, else one per system, saying where it is not
/// declared.
fn parameter_lines(capability: &CapabilityReport) -> Vec<String> {
    let shown = |parameters: Option<&Vec<String>>| match parameters {
        None => "(not declared)".to_string(),
        Some(p) if p.is_empty() => "-".to_string(),
        Some(p) => salve::text::escaped(&p.join(", ")).into_owned(),
    };
    if capability.name == Capability::Log.name() {
        return vec!["(always granted)".to_string()];
    }
    let per_os: Vec<Option<&Vec<String>>> = Os::ALL
        .iter()
        .map(|os| capability.parameters.get(os))
        .collect();
    if per_os.windows(2).all(|pair| pair[0] == pair[1]) {
        return vec![format!("{:<8} {}", "any os", shown(per_os[0]))];
    }
    Os::ALL
        .iter()
        .zip(per_os)
        .map(|(os, parameters)| format!("{:<8} {}", os.name(), shown(parameters)))
        .collect()
}

/// Prints the vetting report. Everything the manifest says is escaped: a
/// hostile manifest cannot rewrite what the vetter's terminal shows.
fn print_report(report: &Report) {
    use salve::text::escaped;
    println!(
        "{} {} — {}",
        report.id,
        report.version,
        escaped(&report.description)
    );
    println!("  package    {}", report.package.display());
    println!(
        "  component  {} ({} KiB, sha256 {})",
        report.component,
        report.component_bytes.div_ceil(1024),
        report.sha256
    );
    println!("  input      {}", escaped(&report.input.to_string()));
    println!("  output     {}", escaped(&report.output.to_string()));
    println!();
    println!(
        "  {:<17} {:<11} {:<9} parameters",
        "capability", "class", "imported"
    );
    for capability in &report.capabilities {
        for (at, line) in parameter_lines(capability).iter().enumerate() {
            if at == 0 {
                println!(
                    "  {:<17} {:<11} {:<9} {line}",
                    capability.name,
                    capability.class.to_string(),
                    if capability.imported { "yes" } else { "no" },
                );
            } else {
                println!("  {:<17} {:<11} {:<9} {line}", "", "", "");
            }
        }
    }
    println!();
    println!("  imports");
    for import in &report.imports {
        println!("    {:<38} {}", import.interface, import.note);
    }
    println!();
    for warning in &report.warnings {
        println!("warning: {warning}");
    }
    if report.problems.is_empty() {
        println!("OK: the component imports only what its manifest declares.");
    } else {
        for problem in &report.problems {
            println!("problem: {problem}");
        }
        println!("REFUSED: the runtime would not run this package.");
    }
}
