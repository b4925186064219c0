//! Step 2: put a component beside its manifest and record its digest.

use crate::{MANIFEST_FILE, PackError};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A package written by [`assemble`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    /// The package directory.
    pub dir: PathBuf,
    /// Its `action.toml`, with the component's digest.
    pub manifest: PathBuf,
    /// The component file.
    pub component: PathBuf,
    /// The component's sha256, in lowercase hex.
    pub sha256: String,
}

/// Writes a package into `out_dir`: the component at `wasm`, under the file
/// name that `crate_dir/action.toml` gives in `[component] file`, and that
/// manifest with `[component] sha256` set to the component's digest. Every
/// other line of the manifest is kept as written. `out_dir` may be `crate_dir`
/// itself. Each file is replaced atomically.
pub fn assemble(crate_dir: &Path, wasm: &Path, out_dir: &Path) -> Result<Assembled, PackError> {
    let source_manifest = crate_dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&source_manifest)
        .map_err(|e| PackError::io("could not read", &source_manifest, e))?;
    let manifest_error = |message: String| PackError::Manifest {
        path: source_manifest.clone(),
        message,
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| manifest_error(e.to_string()))?;
    let component = doc
        .get_mut("component")
        .and_then(|c| c.as_table_like_mut())
        .ok_or_else(|| {
            manifest_error(
                "has no `[component]` table: add one with `file = \"<name>.wasm\"`".to_string(),
            )
        })?;
    let file_name = component
        .get("file")
        .and_then(|f| f.as_str())
        .ok_or_else(|| {
            manifest_error("`[component]` has no `file`: add `file = \"<name>.wasm\"`".to_string())
        })?
        .to_string();
    if file_name.is_empty()
        || file_name.contains(['/', '\\'])
        || file_name == "."
        || file_name == ".."
    {
        return Err(manifest_error(format!(
            "`[component] file = {file_name:?}` must be a file name inside the package, without a directory"
        )));
    }

    let bytes = std::fs::read(wasm).map_err(|e| PackError::io("could not read", wasm, e))?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    component.insert("sha256", toml_edit::value(sha256.clone()));

    std::fs::create_dir_all(out_dir).map_err(|e| PackError::io("could not create", out_dir, e))?;
    let component_path = out_dir.join(&file_name);
    let manifest_path = out_dir.join(MANIFEST_FILE);
    write_atomically(&component_path, &bytes)?;
    write_atomically(&manifest_path, doc.to_string().as_bytes())?;
    Ok(Assembled {
        dir: out_dir.to_path_buf(),
        manifest: manifest_path,
        component: component_path,
        sha256,
    })
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over
/// `path`, so that a reader sees the old file or the new one, never a mix.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), PackError> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".partial");
    let temp = PathBuf::from(temp);
    std::fs::write(&temp, bytes).map_err(|e| PackError::io("could not write", &temp, e))?;
    std::fs::rename(&temp, path).map_err(|e| PackError::io("could not replace", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str =
        "# comment kept\nschema = 1\nid = \"x\"\n\n[component]\nfile = \"x.wasm\"\n";

    #[test]
    fn writes_component_and_digest_keeping_the_rest() {
        let src = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join(MANIFEST_FILE), MANIFEST).unwrap();
        let wasm = src.path().join("built.wasm");
        std::fs::write(&wasm, b"abc").unwrap();

        let assembled = assemble(src.path(), &wasm, out.path()).unwrap();

        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(assembled.sha256, expected);
        assert_eq!(std::fs::read(out.path().join("x.wasm")).unwrap(), b"abc");
        let written = std::fs::read_to_string(out.path().join(MANIFEST_FILE)).unwrap();
        assert_eq!(written, format!("{MANIFEST}sha256 = \"{expected}\"\n"));
        // The source manifest is untouched when the output is elsewhere.
        assert_eq!(
            std::fs::read_to_string(src.path().join(MANIFEST_FILE)).unwrap(),
            MANIFEST
        );
    }

    #[test]
    fn refuses_a_component_file_outside_the_package() {
        let src = tempfile::tempdir().unwrap();
        std::fs::write(
            src.path().join(MANIFEST_FILE),
            "[component]\nfile = \"../evil.wasm\"\n",
        )
        .unwrap();
        let error = assemble(src.path(), Path::new("/nonexistent"), src.path()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("must be a file name inside the package"),
            "{error}"
        );
    }

    #[test]
    fn names_a_missing_component_table() {
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join(MANIFEST_FILE), "id = \"x\"\n").unwrap();
        let error = assemble(src.path(), Path::new("/nonexistent"), src.path()).unwrap_err();
        assert!(
            error.to_string().contains("has no `[component]` table"),
            "{error}"
        );
    }
}
