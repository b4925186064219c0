//! Absolute, normalized paths in the form of each system, and whether one
//! lies below another: the one place path grants are read and compared.
//!
//! - Unix: from `/`, components separated by `/`, compared exactly.
//! - Windows: from a drive (`C:\`), components separated by `\`, the drive
//!   letter written in capitals, compared without regard to ASCII case (as
//!   NTFS names are; a non-ASCII letter must be written in the grant's
//!   case). UNC (`\\server\share`), verbatim (`\\?\`) and device (`\\.\`)
//!   paths are refused: a grant names a local directory. So is every name
//!   Windows would read as something else: a component ending in `.` or a
//!   space (Windows drops them, so `app.` would open `app`), one holding
//!   `<>:"/|?*` or a control character (`:` names an alternate data
//!   stream), and a device name such as `CON` or `NUL.txt`.
//!
//! On both, `.`, `..` and empty components are refused, as is a trailing
//! separator (except the root's own).

use super::Os;
use super::params::ParamError;

/// Longest path accepted anywhere (Linux's `PATH_MAX`).
const MAX_PATH_LEN: usize = 4096;

/// Names Windows opens as devices in any directory, with any extension.
const WINDOWS_DEVICES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "COM0", "COM1", "COM2", "COM3", "COM4",
    "COM5", "COM6", "COM7", "COM8", "COM9", "COM¹", "COM²", "COM³", "LPT0", "LPT1", "LPT2", "LPT3",
    "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9", "LPT¹", "LPT²", "LPT³",
];

/// Reads `path` as an absolute, normalized path; its form says its system.
/// `what` names it in errors (`path`, `program`). Returns the path in its
/// canonical form (a Windows drive letter in capitals) and its system.
pub(crate) fn parse(path: &str, what: &str) -> Result<(String, Os), ParamError> {
    if path.len() > MAX_PATH_LEN || path.contains('\0') {
        return Err(ParamError::new(format!(
            "{what} `{}` is too long or contains a NUL byte",
            crate::text::clipped(path, 128).escape_debug()
        )));
    }
    if path.starts_with('/') {
        return parse_unix(path, what).map(|p| (p, Os::Linux));
    }
    if is_drive_absolute(path) {
        return parse_windows(path, what).map(|p| (p, Os::Windows));
    }
    if path.starts_with(r"\\") {
        return Err(ParamError::new(format!(
            "{what} `{}` is a network (UNC), device or verbatim path: name a directory on a local drive, e.g. `C:\\ProgramData\\app`",
            shown(path)
        )));
    }
    Err(ParamError::new(format!(
        "{what} `{}` is not absolute: write it from the root, e.g. `/var/log` (Linux) or `C:\\ProgramData\\app` (Windows)",
        shown(path)
    )))
}

/// `path` as an error may show it: clipped, and with any character that
/// could rewrite a terminal escaped.
fn shown(path: &str) -> String {
    crate::text::escaped(&crate::text::clipped(path, 256)).into_owned()
}

pub(crate) fn is_drive_absolute(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' && bytes[2] == b'\\'
}

fn parse_unix(path: &str, what: &str) -> Result<String, ParamError> {
    if path == "/" {
        return Ok(path.to_string());
    }
    if path[1..]
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(ParamError::new(format!(
            "{what} `{}` is not normalized: remove `.`, `..`, `//` and any trailing `/`",
            shown(path)
        )));
    }
    Ok(path.to_string())
}

fn parse_windows(path: &str, what: &str) -> Result<String, ParamError> {
    let shown = shown(path);
    let drive = path[..1].to_ascii_uppercase();
    let rest = &path[3..];
    if rest.is_empty() {
        return Ok(format!("{drive}:\\"));
    }
    for component in rest.split('\\') {
        if component.is_empty() || component == "." || component == ".." {
            return Err(ParamError::new(format!(
                "{what} `{shown}` is not normalized: remove `.`, `..`, `\\\\` and any trailing `\\`"
            )));
        }
        if component.contains('/') {
            return Err(ParamError::new(format!(
                "{what} `{shown}` holds a `/`: a Windows path is written with `\\` alone, e.g. `C:\\ProgramData\\app`"
            )));
        }
        if let Some(c) = component
            .chars()
            .find(|c| c.is_control() || matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*'))
        {
            return Err(ParamError::new(format!(
                "{what} `{shown}` holds `{}`, which a Windows file name may not hold (`:` would name an alternate data stream)",
                crate::text::escaped(c.encode_utf8(&mut [0; 4]))
            )));
        }
        if component.ends_with(['.', ' ']) {
            return Err(ParamError::new(format!(
                "{what} `{shown}`: the name `{}` ends in a dot or a space, which Windows drops when it opens it; write the name without them",
                crate::text::escaped(component)
            )));
        }
        let stem = component.split('.').next().unwrap_or(component).trim_end();
        if WINDOWS_DEVICES.iter().any(|d| d.eq_ignore_ascii_case(stem)) {
            return Err(ParamError::new(format!(
                "{what} `{shown}`: `{}` is a device name on Windows, not a file",
                crate::text::escaped(component)
            )));
        }
    }
    Ok(format!("{drive}:\\{rest}"))
}

/// The part of the normalized `path` below `prefix` (both of system `os`):
/// `""` for the prefix itself, `None` when `path` is not below it. Compared
/// by whole components.
pub(crate) fn relative<'p>(prefix: &str, os: Os, path: &'p str) -> Option<&'p str> {
    match os {
        Os::Linux => {
            if prefix == "/" {
                return path.strip_prefix('/');
            }
            match path.strip_prefix(prefix)? {
                "" => Some(""),
                rest => rest.strip_prefix('/'),
            }
        }
        Os::Windows => {
            // ASCII case folding changes no byte outside ASCII, so equal
            // prefixes end on the same character boundary.
            let head = path.as_bytes().get(..prefix.len())?;
            if !head.eq_ignore_ascii_case(prefix.as_bytes()) {
                return None;
            }
            let rest = &path[prefix.len()..];
            if prefix.ends_with('\\') {
                // The drive's root, `C:\`: everything after it.
                return Some(rest);
            }
            match rest {
                "" => Some(""),
                rest => rest.strip_prefix('\\'),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_paths_are_drive_absolute_and_normalized() {
        assert_eq!(
            parse(r"c:\ProgramData\app", "path").unwrap(),
            (r"C:\ProgramData\app".to_string(), Os::Windows)
        );
        assert_eq!(
            parse(r"D:\", "path").unwrap(),
            (r"D:\".to_string(), Os::Windows)
        );
        for bad in [
            r"C:",
            r"C:temp",
            r"C:\temp\",
            r"C:\temp\\x",
            r"C:\temp\..\Windows",
            r"C:\temp\.\x",
            r"C:\temp/x",
            r"C:\temp\file.txt:stream",
            r"C:\temp\app.",
            r"C:\temp\app ",
            r"C:\temp\CON",
            r"C:\temp\nul.txt",
            r"C:\temp\COM1 .log",
            r"C:\temp\a*b",
            r"\\server\share\x",
            r"\\?\C:\Windows",
            r"\\.\PhysicalDrive0",
            r"\temp",
            "temp",
        ] {
            assert!(parse(bad, "path").is_err(), "{bad}");
        }
        assert!(parse(r"C:\temp\console.log", "path").is_ok());
    }

    #[test]
    fn windows_prefixes_contain_by_component_without_regard_to_case() {
        let prefix = r"C:\ProgramData\App";
        assert_eq!(
            relative(prefix, Os::Windows, r"c:\programdata\app"),
            Some("")
        );
        assert_eq!(
            relative(prefix, Os::Windows, r"C:\PROGRAMDATA\APP\Logs\x.log"),
            Some(r"Logs\x.log")
        );
        assert_eq!(
            relative(prefix, Os::Windows, r"C:\ProgramData\Apps\x"),
            None
        );
        assert_eq!(relative(prefix, Os::Windows, r"C:\ProgramData"), None);
        assert_eq!(
            relative(r"C:\", Os::Windows, r"C:\Windows\Temp"),
            Some(r"Windows\Temp")
        );
        assert_eq!(relative(r"C:\", Os::Windows, r"D:\x"), None);
        // Non-ASCII letters compare exactly: a stricter match, never a looser one.
        assert_eq!(relative(r"C:\Été", Os::Windows, r"C:\été\x"), None);
        assert_eq!(relative(r"C:\Été", Os::Windows, r"C:\ÉTÉ\x"), None);
        assert_eq!(relative(r"C:\Été", Os::Windows, r"c:\Été\x"), Some("x"));
    }
}
