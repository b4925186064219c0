//! Step 1: compile action crates into WebAssembly components with cargo.

use crate::PackError;
use serde::Deserialize;
use std::ffi::OsString;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The Rust target actions are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Environment variables an outer cargo sets for build scripts that must not
/// leak into the guest build (they name host flags, wrappers or targets).
const INHERITED_CARGO_ENV: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
];

/// One `cargo build` of action crates.
#[derive(Debug, Clone)]
pub struct Compile {
    /// The `Cargo.toml` of an action crate or of a workspace of them.
    pub manifest_path: PathBuf,
    /// Where cargo puts its build output; cargo's default when `None`.
    pub target_dir: Option<PathBuf>,
    /// Build only these packages; the whole workspace when empty.
    pub packages: Vec<String>,
    /// Keep cargo's progress off the terminal (errors are still shown).
    pub quiet: bool,
}

impl Compile {
    /// A release build of the crate or workspace at `manifest_path`.
    pub fn new(manifest_path: impl Into<PathBuf>) -> Self {
        Compile {
            manifest_path: manifest_path.into(),
            target_dir: None,
            packages: Vec::new(),
            quiet: false,
        }
    }
}

/// A component that cargo produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltComponent {
    /// The crate's package name.
    pub package: String,
    /// The directory of the crate's `Cargo.toml` (where its `action.toml` is).
    pub crate_dir: PathBuf,
    /// The component file in cargo's target directory.
    pub wasm: PathBuf,
    /// The source files the component was built from (cargo's dep-info), for
    /// build scripts that want to rebuild when one changes.
    pub sources: Vec<PathBuf>,
}

/// Runs `cargo build --release --target wasm32-wasip2` and returns the
/// components it produced. Cargo's progress and diagnostics go to stderr.
pub fn compile(build: &Compile) -> Result<Vec<BuiltComponent>, PackError> {
    let manifest_path = std::fs::canonicalize(&build.manifest_path)
        .map_err(|e| PackError::io("cannot find", &build.manifest_path, e))?;
    let crate_dir = manifest_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    check_target_installed(&crate_dir)?;

    let program = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(&program);
    command
        .current_dir(&crate_dir)
        .arg("build")
        .arg("--release")
        .arg("--target")
        .arg(TARGET)
        .arg("--message-format=json-render-diagnostics")
        .arg("--manifest-path")
        .arg(&manifest_path);
    for package in &build.packages {
        command.arg("--package").arg(package);
    }
    if build.quiet {
        command.arg("--quiet");
    }
    for name in INHERITED_CARGO_ENV {
        command.env_remove(name);
    }
    if let Some(dir) = &build.target_dir {
        command.env("CARGO_TARGET_DIR", dir);
    }
    command.stdout(Stdio::piped()).stderr(Stdio::inherit());

    let spawn_error = |source| PackError::CargoSpawn {
        program: program.to_string_lossy().into_owned(),
        source,
    };
    let mut child = command.spawn().map_err(spawn_error)?;
    let mut components = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.map_err(|e| PackError::CargoOutput(e.to_string()))?;
            if let Some(component) = parse_artifact(&line)? {
                components.push(component);
            }
        }
    }
    let status = child.wait().map_err(spawn_error)?;
    if !status.success() {
        return Err(PackError::CargoFailed {
            manifest: build.manifest_path.clone(),
            status,
        });
    }
    if components.is_empty() {
        return Err(PackError::NoComponent {
            manifest: build.manifest_path.clone(),
        });
    }
    Ok(components)
}

/// The part of cargo's `compiler-artifact` message this crate reads.
#[derive(Deserialize)]
struct Message {
    reason: String,
    #[serde(default)]
    manifest_path: Option<PathBuf>,
    #[serde(default)]
    target: Option<MessageTarget>,
    #[serde(default)]
    filenames: Vec<PathBuf>,
}

#[derive(Deserialize)]
struct MessageTarget {
    kind: Vec<String>,
}

/// A component from one line of cargo's JSON output, if the line announces one.
fn parse_artifact(line: &str) -> Result<Option<BuiltComponent>, PackError> {
    if !line.starts_with('{') {
        return Ok(None);
    }
    let message: Message =
        serde_json::from_str(line).map_err(|e| PackError::CargoOutput(format!("{e} in {line}")))?;
    let is_cdylib = message
        .target
        .as_ref()
        .is_some_and(|t| t.kind.iter().any(|k| k == "cdylib"));
    if message.reason != "compiler-artifact" || !is_cdylib {
        return Ok(None);
    }
    let Some(wasm) = message
        .filenames
        .into_iter()
        .find(|f| f.extension().is_some_and(|e| e == "wasm"))
    else {
        return Ok(None);
    };
    let Some(manifest_path) = message.manifest_path else {
        return Err(PackError::CargoOutput(format!(
            "no manifest_path for {}",
            wasm.display()
        )));
    };
    let crate_dir = manifest_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let package = package_name(&manifest_path)?;
    let sources = dep_info(&wasm);
    Ok(Some(BuiltComponent {
        package,
        crate_dir,
        wasm,
        sources,
    }))
}

/// The `[package] name` of a `Cargo.toml`.
fn package_name(manifest_path: &Path) -> Result<String, PackError> {
    let text = std::fs::read_to_string(manifest_path)
        .map_err(|e| PackError::io("could not read", manifest_path, e))?;
    let doc: toml_edit::DocumentMut = text.parse().map_err(|e| PackError::Manifest {
        path: manifest_path.to_path_buf(),
        message: format!("{e}"),
    })?;
    doc.get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_string)
        .ok_or_else(|| PackError::Manifest {
            path: manifest_path.to_path_buf(),
            message: "has no `[package] name`".to_string(),
        })
}

/// The source files listed in the `.d` file cargo writes beside an artifact.
fn dep_info(artifact: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(artifact.with_extension("d")) else {
        return Vec::new();
    };
    let mut sources = Vec::new();
    for line in text.lines() {
        let Some((_, deps)) = line.split_once(": ") else {
            continue;
        };
        // Paths are separated by spaces; a space inside a path is escaped as `\ `.
        let mut current = String::new();
        let mut chars = deps.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&' ') => {
                    current.push(' ');
                    chars.next();
                }
                ' ' => {
                    if !current.is_empty() {
                        sources.push(PathBuf::from(std::mem::take(&mut current)));
                    }
                }
                c => current.push(c),
            }
        }
        if !current.is_empty() {
            sources.push(PathBuf::from(current));
        }
    }
    sources.sort();
    sources.dedup();
    sources
}

/// Fails with a clear message when the toolchain used in `dir` lacks the
/// `wasm32-wasip2` standard library (rustup does not install a target listed in
/// `rust-toolchain.toml` where `RUSTUP_AUTO_INSTALL=0`).
fn check_target_installed(dir: &Path) -> Result<(), PackError> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let output = Command::new(&rustc)
        .current_dir(dir)
        .args(["--print", "target-libdir", "--target", TARGET])
        .stderr(Stdio::null())
        .output()
        .map_err(|source| PackError::CargoSpawn {
            program: rustc.to_string_lossy().into_owned(),
            source,
        })?;
    let libdir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let installed = output.status.success()
        && std::fs::read_dir(&libdir).is_ok_and(|mut entries| {
            entries
                .any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libcore-")))
        });
    if installed {
        Ok(())
    } else {
        Err(PackError::TargetMissing {
            dir: dir.to_path_buf(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_cdylib_artifact_message() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_path_buf();
        let manifest = dir.join("Cargo.toml");
        std::fs::write(&manifest, "[package]\nname = \"disk-usage\"\n").unwrap();
        let wasm = dir.join("disk_usage.wasm");
        std::fs::write(
            wasm.with_extension("d"),
            format!("{}: /src/lib.rs /a\\ b/c.rs\n", wasm.display()),
        )
        .unwrap();
        let line = serde_json::json!({
            "reason": "compiler-artifact",
            "manifest_path": manifest,
            "target": {"kind": ["cdylib"], "name": "disk_usage"},
            "filenames": [wasm],
        })
        .to_string();
        let component = parse_artifact(&line).unwrap().unwrap();
        assert_eq!(component.package, "disk-usage");
        assert_eq!(component.crate_dir, dir);
        assert_eq!(component.wasm, wasm);
        assert_eq!(
            component.sources,
            vec![PathBuf::from("/a b/c.rs"), PathBuf::from("/src/lib.rs")]
        );
    }

    #[test]
    fn ignores_other_messages() {
        let rlib = r#"{"reason":"compiler-artifact","manifest_path":"/x/Cargo.toml","target":{"kind":["lib"]},"filenames":["/x/libx.rlib"]}"#;
        assert_eq!(parse_artifact(rlib).unwrap(), None);
        assert_eq!(
            parse_artifact(r#"{"reason":"build-finished","success":true}"#).unwrap(),
            None
        );
        assert_eq!(parse_artifact("not json").unwrap(), None);
    }
}
