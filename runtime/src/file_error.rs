//! Errors in files people write (manifests, policies, configuration): each
//! names the file, the line and column, shows the line with a caret under the
//! problem, and says what to do.

use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// A file that cannot be used, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rendered}")]
pub struct FileError {
    /// The file.
    pub file: PathBuf,
    /// Line and column (1-based) of the problem, when known.
    pub position: Option<(usize, usize)>,
    /// What is wrong, without the position.
    pub message: String,
    rendered: String,
}

impl FileError {
    /// An error at byte range `span` of `text` (the contents of `file`).
    pub fn at(
        file: &Path,
        text: &str,
        span: Option<std::ops::Range<usize>>,
        message: &str,
    ) -> Self {
        let message = message.trim_end().to_string();
        let Some(span) = span else {
            return FileError {
                file: file.to_path_buf(),
                position: None,
                rendered: format!("{}: {message}", file.display()),
                message,
            };
        };
        let start = floor_char_boundary(text, span.start.min(text.len()));
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line_number = text[..start].matches('\n').count() + 1;
        let column = text[line_start..start].chars().count() + 1;
        let line = &text[line_start..line_end];
        let end = floor_char_boundary(text, span.end.clamp(start, line_end));
        let width = text[start..end].chars().count().max(1);
        let gutter = " ".repeat(line_number.to_string().len());
        let rendered = format!(
            "{file}:{line_number}:{column}: {message}\n{gutter} |\n{line_number} | {line}\n{gutter} | {pad}{carets}",
            file = file.display(),
            pad = " ".repeat(column - 1),
            carets = "^".repeat(width),
        );
        FileError {
            file: file.to_path_buf(),
            position: Some((line_number, column)),
            message,
            rendered,
        }
    }

    /// Parses `text` (the contents of `file`) as TOML into `T`. Serde's terse
    /// messages get a hint; `reference` names where every field is described.
    pub fn parse_toml<T: DeserializeOwned>(
        text: &str,
        file: &Path,
        reference: &str,
    ) -> Result<T, FileError> {
        toml::from_str(text).map_err(|error: toml::de::Error| {
            FileError::at(
                file,
                text,
                error.span(),
                &with_hint(error.message(), reference),
            )
        })
    }

    /// Reads `path` as text.
    pub fn read(path: &Path) -> Result<String, FileError> {
        std::fs::read_to_string(path)
            .map_err(|error| FileError::at(path, "", None, &format!("cannot be read: {error}")))
    }
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// Adds what to do to serde's terse messages.
fn with_hint(message: &str, reference: &str) -> String {
    let message = message.trim_end();
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        return format!("missing field `{field}`: add it ({reference} shows every field)");
    }
    if message.starts_with("unknown field `log`") {
        return format!("{message}; `log` is always granted, so leave it out");
    }
    if message.ends_with("there are no fields") {
        return format!("{message}: this capability takes no parameters, leave its table empty");
    }
    if message.ends_with("expected a nonzero u64") {
        return format!("{message}: a limit must be a positive number");
    }
    message.to_string()
}
