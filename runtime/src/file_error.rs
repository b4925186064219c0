//! Errors in files people write (manifests, policies, configuration): each
//! names the file, the line and column, shows the line with a caret under the
//! problem, and says what to do.

use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// The largest file read as a manifest, a policy, a trust file or a fleet
/// inventory: 8 MiB, hundreds of times what the largest of them needs (a
/// policy with ten thousand principals is about 1.5 MiB).
pub const MAX_FILE_BYTES: u64 = 8 << 20;

/// At most this many characters of the offending line are quoted, around
/// the problem; and at most [`MAX_MESSAGE_CHARS`] of the message.
const QUOTED_CHARS: usize = 160;

/// At most this many characters of a parser's message are kept (it may
/// quote the offending value whole).
const MAX_MESSAGE_CHARS: usize = 400;

/// `text`, cut to `max` characters with `…` where it was cut.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

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
        let message = clip(message.trim_end(), MAX_MESSAGE_CHARS);
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
        let end = floor_char_boundary(text, span.end.clamp(start, line_end));
        // The line as quoted: at most QUOTED_CHARS characters, from up to
        // half of them before the problem.
        let skipped = (column - 1).saturating_sub(QUOTED_CHARS / 2);
        let shown_from = text[line_start..start]
            .char_indices()
            .nth(skipped)
            .map_or(start, |(i, _)| line_start + i);
        let rest = &text[shown_from..line_end];
        let shown = clip(rest, QUOTED_CHARS);
        let (lead, pad) = if skipped > 0 {
            ("…", " ".repeat(column - skipped))
        } else {
            ("", " ".repeat(column - 1))
        };
        let width = text[start..end].chars().count().clamp(
            1,
            QUOTED_CHARS - (column - 1 - skipped).min(QUOTED_CHARS - 1),
        );
        let gutter = " ".repeat(line_number.to_string().len());
        let rendered = format!(
            "{file}:{line_number}:{column}: {message}\n{gutter} |\n{line_number} | {lead}{shown}\n{gutter} | {pad}{carets}",
            file = file.display(),
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

    /// Reads `path` as text, if it is a regular file of at most
    /// [`MAX_FILE_BYTES`].
    pub fn read(path: &Path) -> Result<String, FileError> {
        read_text(path)
            .map_err(|error| FileError::at(path, "", None, &format!("cannot be read: {error}")))
    }
}

/// Reads `path` as UTF-8 text, refusing what is not a regular file (a FIFO
/// or a device would block or never end) and what is larger than
/// [`MAX_FILE_BYTES`]. Every configuration, key, signature, checkpoint and
/// revocation file salve reads goes through here.
pub fn read_text(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    // Opened without blocking (a FIFO would wait for a writer), then asked
    // what it is: the file checked is the file read.
    let file = crate::os::without_blocking(std::fs::OpenOptions::new().read(true)).open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "it is not a regular file",
        ));
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large());
    }
    Ok(text)
}

fn too_large() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::FileTooLarge,
        format!(
            "it is larger than {} MiB, more than any file of this kind needs",
            MAX_FILE_BYTES >> 20
        ),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_line_is_quoted_around_the_problem_only() {
        let line = format!("name = \"{}\" oops", "x".repeat(10 << 20));
        let at = line.find("oops").unwrap();
        let error = FileError::at(
            Path::new("action.toml"),
            &line,
            Some(at..at + 4),
            &format!("expected newline, found `{}`", "y".repeat(1 << 20)),
        );
        let shown = error.to_string();
        assert!(shown.len() < 2_000, "{} bytes", shown.len());
        assert!(shown.contains("oops"), "{shown}");
        assert!(shown.contains("…"), "{shown}");
        assert_eq!(error.position, Some((1, line[..at].chars().count() + 1)));
        // The caret stands under the problem.
        let lines: Vec<&str> = shown.lines().collect();
        let quoted = lines[2].split_once(" | ").unwrap().1;
        let carets = lines[3].split_once(" | ").unwrap().1;
        let col = carets.find('^').unwrap();
        assert_eq!(
            &quoted[quoted.char_indices().nth(col).unwrap().0..][..4],
            "oops",
            "{shown}"
        );
    }

    #[test]
    fn a_short_line_is_quoted_whole_with_the_caret_under_the_problem() {
        let text = "id = \"x\"\nversion = 1.0\n";
        let at = text.find("1.0").unwrap();
        let shown = FileError::at(Path::new("a.toml"), text, Some(at..at + 3), "bad").to_string();
        assert_eq!(
            shown,
            "a.toml:2:11: bad\n  |\n2 | version = 1.0\n  |           ^^^"
        );
    }

    #[test]
    fn a_file_past_the_limit_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, vec![b'#'; (MAX_FILE_BYTES + 1) as usize]).unwrap();
        let error = FileError::read(&path).unwrap_err().to_string();
        assert!(error.contains("larger than 8 MiB"), "{error}");
        std::fs::write(&path, "schema = 1\n").unwrap();
        assert_eq!(FileError::read(&path).unwrap(), "schema = 1\n");
    }

    #[test]
    fn what_is_not_a_regular_file_or_is_too_large_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        // Opening a FIFO for reading would block until a writer came.
        #[cfg(unix)]
        {
            let fifo = dir.path().join("policy.toml");
            nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
            let error = read_text(&fifo).unwrap_err();
            assert!(error.to_string().contains("not a regular file"), "{error}");
        }
        // A directory: Windows refuses to open one as a file at all.
        let error = read_text(dir.path()).unwrap_err();
        #[cfg(unix)]
        assert!(error.to_string().contains("not a regular file"), "{error}");
        #[cfg(windows)]
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::PermissionDenied,
            "{error}"
        );

        let big = dir.path().join("trust.toml");
        let file = std::fs::File::create(&big).unwrap();
        file.set_len(MAX_FILE_BYTES + 1).unwrap();
        let error = FileError::read(&big).unwrap_err().to_string();
        assert!(error.contains("larger than 8 MiB"), "{error}");

        std::fs::write(&big, "id = 1\n").unwrap();
        assert_eq!(read_text(&big).unwrap(), "id = 1\n");
    }
}
