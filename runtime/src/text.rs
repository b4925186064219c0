//! Text that one person writes and another reads on a terminal: a session's
//! problem statement, a closure's write-up, a denial's reason, an
//! escalation's input.
//!
//! Such text must not be able to change what the reader's terminal shows: a
//! requester who could put an escape sequence, a carriage return or a
//! right-to-left override into a problem statement could make an approver
//! read something other than what they approve. So the service refuses
//! these characters where text is written ([`check_readable`]), and
//! everything shown on a terminal is escaped ([`escaped`]) — the input of an
//! escalation, what a sandboxed action wrote, and records from logs that
//! predate the check included.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` could change how the text around it is shown: a control
/// character (C0, DEL, C1: escape sequences, newlines, carriage returns,
/// backspaces) or a Unicode bidirectional control (overrides, embeddings,
/// isolates, marks).
pub fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// Whether `c` is refused in text written for others: a control character
/// or a bidirectional override, embedding or isolate, which reorder what
/// follows them. (The directional marks U+200E, U+200F and U+061C, which
/// right-to-left text uses, are accepted, and escaped when shown.)
fn is_refused(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Checks text written for others to read on one line: at most `max_chars`
/// characters, none of them [refused](is_refused). The error names `what`
/// and the first offending character's place.
pub fn check_readable(what: &str, text: &str, max_chars: usize) -> Result<(), String> {
    check(what, text, max_chars, |_| false)
}

/// As [`check_readable`], for text of several lines (a write-up): newlines
/// and tabs are accepted too (and shown escaped on one line).
pub fn check_readable_lines(what: &str, text: &str, max_chars: usize) -> Result<(), String> {
    check(what, text, max_chars, |c| c == '\n' || c == '\t')
}

fn check(
    what: &str,
    text: &str,
    max_chars: usize,
    kept: impl Fn(char) -> bool,
) -> Result<(), String> {
    let count = text.chars().count();
    if count > max_chars {
        return Err(format!(
            "{what} is {count} characters long: at most {max_chars}"
        ));
    }
    match text
        .chars()
        .enumerate()
        .find(|(_, c)| is_refused(*c) && !kept(*c))
    {
        None => Ok(()),
        Some((place, c)) => Err(format!(
            "{what} holds U+{:04X} at character {}: no control characters (newlines, tabs, escape sequences) or bidirectional overrides",
            c as u32,
            place + 1
        )),
    }
}

/// `text` as it is safe to print: every [deceptive](is_deceptive)
/// character written as `\u{…}`. Text without any is returned as it is.
pub fn escaped(text: &str) -> Cow<'_, str> {
    escape_unless(text, |_| false)
}

/// Like [`escaped`], but newlines and tabs are kept: for multi-line output
/// such as what an action wrote to stdout.
pub fn escaped_lines(text: &str) -> Cow<'_, str> {
    escape_unless(text, |c| c == '\n' || c == '\t')
}

/// `text` cut to at most `max_bytes` bytes (at a character boundary), with
/// how long it was said after the cut: for text a sandboxed action controls
/// — a path it asked for, an error it returned — before it is kept in a
/// record, so that no action can make a record as long as it likes. Text
/// within the bound is returned as it is.
pub fn clipped(text: &str, max_bytes: usize) -> Cow<'_, str> {
    if text.len() <= max_bytes {
        return Cow::Borrowed(text);
    }
    let mut cut = max_bytes;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    Cow::Owned(format!(
        "{}… (cut: {} bytes in all)",
        &text[..cut],
        text.len()
    ))
}

fn escape_unless(text: &str, kept: impl Fn(char) -> bool) -> Cow<'_, str> {
    let escapes = |c: char| is_deceptive(c) && !kept(c);
    if !text.chars().any(escapes) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if escapes(c) {
            let _ = write!(shown, "\\u{{{:x}}}", c as u32);
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_clipped_at_a_character_boundary_saying_its_length() {
        assert_eq!(clipped("short", 10), "short");
        assert_eq!(clipped("abcdef", 4), "abcd… (cut: 6 bytes in all)");
        // "é" is two bytes: a cut inside it goes back before it.
        assert_eq!(clipped("aé", 2), "a… (cut: 3 bytes in all)");
        let long = "x".repeat(1 << 20);
        assert!(clipped(&long, 512).len() < 600);
    }

    #[test]
    fn escape_sequences_line_breaks_and_overrides_are_refused_where_written() {
        assert_eq!(
            check_readable("problem", "Printer queue stuck", 100),
            Ok(())
        );
        assert_eq!(
            check_readable("problem", "Drucker hängt – 打印机", 100),
            Ok(())
        );
        for hostile in [
            "Printer\u{1b}[31m red",
            "Printer\nFAKE: approved by ceo",
            "Printer\rFAKE",
            "abc\u{202e}fdp.exe",
            "csi\u{9b}31m",
            "bell\u{7}",
            "isolate\u{2066}x",
        ] {
            let error = check_readable("problem", hostile, 100).unwrap_err();
            assert!(error.starts_with("problem holds U+"), "{error}");
        }
        assert_eq!(
            check_readable("summary", "abcd", 3).unwrap_err(),
            "summary is 4 characters long: at most 3"
        );
        // Right-to-left text keeps its directional marks; a write-up its lines.
        assert_eq!(
            check_readable("problem", "המדפסת\u{200f} תקועה", 100),
            Ok(())
        );
        assert_eq!(check_readable_lines("summary", "one\n\ttwo", 100), Ok(()));
        assert!(check_readable_lines("summary", "one\r\u{1b}[2K", 100).is_err());
        assert!(check_readable_lines("summary", "x\u{202e}y", 100).is_err());
    }

    #[test]
    fn what_is_printed_cannot_drive_the_terminal() {
        assert!(matches!(escaped("plain text"), Cow::Borrowed(_)));
        assert_eq!(
            escaped("a\u{1b}[31mb\nc\u{202e}d"),
            "a\\u{1b}[31mb\\u{a}c\\u{202e}d"
        );
        assert_eq!(
            escaped_lines("one\ntwo\t\u{1b}]52;c;x\u{7}"),
            "one\ntwo\t\\u{1b}]52;c;x\\u{7}"
        );
        for c in (0..0x110000u32).filter_map(char::from_u32) {
            let shown = escaped_lines(&c.to_string()).into_owned();
            assert!(
                shown
                    .chars()
                    .all(|s| !is_deceptive(s) || s == '\n' || s == '\t'),
                "U+{:04X} survives escaping",
                c as u32
            );
        }
    }
}
