//! The parameters a capability is declared and granted with. Each is a type
//! that can only hold a valid value: it is checked once, while parsing.

use super::{Os, path_syntax};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::path::Path;
use std::str::FromStr;

/// Why a parameter was refused; the text says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParamError(String);

impl ParamError {
    /// A refusal saying `why`.
    pub(crate) fn new(why: impl Into<String>) -> ParamError {
        ParamError(why.into())
    }
}

/// Unit types a service name may have.
const UNIT_SUFFIXES: &[&str] = &[
    ".service", ".socket", ".timer", ".target", ".path", ".mount",
];

/// A service: on Linux a full systemd unit name, with its type
/// (`cups.service`); on Windows a Service Control Manager service name,
/// without one (`Spooler`). Compared exactly, case included. Which system
/// it is for is told by its form: [`ServiceName::os`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServiceName(String);

impl ServiceName {
    /// The unit or service name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The system the name is for: a name with a unit type is a systemd
    /// unit, any other a Windows service.
    pub fn os(&self) -> Os {
        if has_unit_suffix(&self.0) {
            Os::Linux
        } else {
            Os::Windows
        }
    }
}

fn has_unit_suffix(name: &str) -> bool {
    UNIT_SUFFIXES
        .iter()
        .any(|s| name.len() > s.len() && name.ends_with(s))
}

impl FromStr for ServiceName {
    type Err = ParamError;

    fn from_str(name: &str) -> Result<Self, ParamError> {
        let shown = || crate::text::clipped(&name.escape_debug().to_string(), 128).into_owned();
        if name.is_empty() || name.len() > 255 || name.starts_with(['-', '.']) {
            return Err(ParamError(format!(
                "`{}` is not a service name: write a systemd unit with its type (`cups.service`) or a Windows service name (`Spooler`), at most 255 characters",
                shown()
            )));
        }
        if has_unit_suffix(name) {
            if !name.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '\\' | '@' | '-')
            }) {
                return Err(ParamError(format!(
                    "`{}` is not a service unit name: use letters, digits and `:_.@-`, e.g. `cups.service`",
                    shown()
                )));
            }
        } else if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$' | '@' | '-'))
        {
            return Err(ParamError(format!(
                "`{}` is not a service name: a systemd unit has its type (`cups.service`); a Windows service name has letters, digits and `_.$@-` (`Spooler`, `MSSQL$SQLEXPRESS`)",
                shown()
            )));
        }
        Ok(ServiceName(name.to_string()))
    }
}

/// A directory prefix under which file access is allowed: `/var/log` on
/// Linux, `C:\ProgramData\app` on Windows (the rules of each form are in
/// `path_syntax`).
///
/// It contains itself and everything below it, compared by whole path
/// components (`/var/log` contains `/var/log/syslog` but not `/var/logs`),
/// and only paths of its own system.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PathPrefix {
    path: String,
    os: Os,
}

impl PathPrefix {
    /// The prefix, in its canonical form.
    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// The prefix as a path.
    pub fn as_path(&self) -> &Path {
        Path::new(&self.path)
    }

    /// The system whose path this is.
    pub fn os(&self) -> Os {
        self.os
    }

    /// Whether `other` is this prefix or lies below it.
    pub fn contains(&self, other: &PathPrefix) -> bool {
        self.os == other.os && self.relative(&other.path).is_some()
    }

    /// The part of the absolute, normalized `path` (of this prefix's
    /// system) below this prefix: `""` for the prefix itself, `None` when
    /// `path` is not inside it.
    pub fn relative<'p>(&self, path: &'p str) -> Option<&'p str> {
        path_syntax::relative(&self.path, self.os, path)
    }
}

impl FromStr for PathPrefix {
    type Err = ParamError;

    fn from_str(path: &str) -> Result<Self, ParamError> {
        path_syntax::parse(path, "path").map(|(path, os)| PathPrefix { path, os })
    }
}

/// A program that may be run, and with which arguments: its exact path,
/// then the exact arguments it must be given, separated by spaces.
/// `/usr/bin/resolvectl flush-caches` runs `resolvectl` with the one
/// argument `flush-caches` and no other; a path alone, with no argument; a
/// last word `*`, with the arguments before it and any after them (for
/// arguments the action takes from its input, e.g. `/usr/bin/journalctl
/// --no-pager -u *`). An argument holding a space, a quote or a backslash,
/// an empty one, or a literal `*`, is written in double quotes, with `\"`
/// for a quote and `\\` for a backslash inside: `/usr/bin/journalctl
/// --since "1 hour ago"`.
///
/// A rule whose program is a Windows path (`C:\Windows\System32\ipconfig.exe
/// /flushdns`) is a Windows rule. In it a backslash needs no quotes, as
/// Windows paths are full of them; inside quotes, `\"` and `\\` still stand
/// for a quote and a backslash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProgramPath {
    /// The rule in its canonical form (words separated by one space,
    /// quoted only where they must be): how it is compared and shown.
    rule: String,
    program: String,
    args: Vec<String>,
    /// Ends in `*`: any further arguments.
    any_more: bool,
    /// The system of the program's path.
    os: Os,
}

impl ProgramPath {
    /// The rule as written (canonically): the path, then the arguments.
    pub fn as_str(&self) -> &str {
        &self.rule
    }

    /// The program's path.
    pub fn path(&self) -> &str {
        &self.program
    }

    /// The system whose program this is.
    pub fn os(&self) -> Os {
        self.os
    }

    /// Whether this rule lets `program` run with exactly `args`.
    pub fn allows(&self, program: &str, args: &[String]) -> bool {
        if self.program != program {
            return false;
        }
        let same = self.args.iter().zip(args).all(|(w, a)| w == a);
        if self.any_more {
            args.len() >= self.args.len() && same
        } else {
            args.len() == self.args.len() && same
        }
    }
}

/// A word of a program rule: its text, and whether it was quoted.
struct Word {
    text: String,
    quoted: bool,
}

/// Splits a program rule into words: separated by whitespace, each either
/// bare or in double quotes (with `\"` and `\\` inside). Characters that
/// could make a rule read as something else on a vetter's terminal —
/// control characters, bidirectional controls, whitespace other than the
/// ASCII space — are refused anywhere in it, the program's path included.
/// With `bare_backslashes` (a Windows rule), a bare word may hold a
/// backslash.
fn words(rule: &str, bare_backslashes: bool) -> Result<Vec<Word>, ParamError> {
    let shown = || crate::text::clipped(&rule.escape_debug().to_string(), 512).into_owned();

    let mut words = Vec::new();
    let mut chars = rule.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
        let Some(first) = chars.next() else {
            return Ok(words);
        };
        let mut text = String::new();
        let quoted = first == '"';
        if quoted {
            loop {
                match chars.next() {
                    None => {
                        return Err(ParamError(format!(
                            "in `{}`, a quote is not closed",
                            shown()
                        )));
                    }
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c @ ('"' | '\\')) => text.push(c),
                        _ => {
                            return Err(ParamError(format!(
                                "in `{}`, a backslash inside quotes may only come before `\"` or `\\`",
                                shown()
                            )));
                        }
                    },
                    Some(c) => text.push(c),
                }
            }
            if chars.peek().is_some_and(|c| !c.is_ascii_whitespace()) {
                return Err(ParamError(format!(
                    "in `{}`, a closing quote is followed by more of the word: quote the whole argument",
                    shown()
                )));
            }
        } else {
            text.push(first);
            while let Some(c) = chars.next_if(|c| !c.is_ascii_whitespace()) {
                text.push(c);
            }
            if text.contains('"') || (!bare_backslashes && text.contains('\\')) {
                return Err(ParamError(format!(
                    "in `{}`, `{}` holds a quote or a backslash: write the whole argument in double quotes, with `\\\"` for a quote and `\\\\` for a backslash",
                    shown(),
                    crate::text::clipped(&text.escape_debug().to_string(), 256)
                )));
            }
        }
        if let Some(c) = text
            .chars()
            .find(|c| crate::text::is_deceptive(*c) || (c.is_whitespace() && *c != ' '))
        {
            return Err(ParamError(format!(
                "in `{}`, a word holds U+{:04X}: a program or argument may hold no control characters, bidirectional controls or whitespace other than spaces",
                shown(),
                c as u32
            )));
        }
        words.push(Word { text, quoted });
    }
}

/// `arg` as a rule of system `os` writes it: bare if it can be, else in
/// double quotes.
fn rule_word(arg: &str, os: Os) -> String {
    let bare = !arg.is_empty()
        && arg != "*"
        && !arg
            .chars()
            .any(|c| c.is_ascii_whitespace() || c == '"' || (c == '\\' && os == Os::Linux));
    if bare {
        return arg.to_string();
    }
    let mut quoted = String::from("\"");
    for c in arg.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

impl FromStr for ProgramPath {
    type Err = ParamError;

    fn from_str(rule: &str) -> Result<Self, ParamError> {
        // A Windows rule starts with a drive, bare or quoted.
        let head = rule.trim_start();
        let windows = path_syntax::is_drive_absolute(head.strip_prefix('"').unwrap_or(head));
        let mut words = words(rule, windows)?.into_iter();
        let first = words.next().map(|w| w.text).unwrap_or_default();
        let (program, os) = path_syntax::parse(&first, "program")?;
        if program == "/" || program.ends_with(":\\") {
            return Err(ParamError(format!(
                "program `{program}` is a directory: name the program's file, e.g. `/usr/bin/resolvectl` or `C:\\Windows\\System32\\ipconfig.exe`"
            )));
        }
        let words: Vec<Word> = words.collect();
        let wildcard = |w: &Word| !w.quoted && w.text == "*";
        if let Some(at) = words.iter().position(wildcard)
            && at + 1 != words.len()
        {
            return Err(ParamError(format!(
                "in `{}`, `*` comes before other arguments: it may only be the last word (any arguments after those before it); write `\"*\"` for the argument `*` itself",
                crate::text::clipped(&rule.escape_debug().to_string(), 512)
            )));
        }
        let any_more = words.last().is_some_and(wildcard);
        let args: Vec<String> = words
            .into_iter()
            .take_while(|w| !wildcard(w))
            .map(|w| w.text)
            .collect();
        let mut canonical = rule_word(&program, os);
        for arg in &args {
            canonical.push(' ');
            canonical.push_str(&rule_word(arg, os));
        }
        if any_more {
            canonical.push_str(" *");
        }
        Ok(ProgramPath {
            rule: canonical,
            program,
            args,
            any_more,
            os,
        })
    }
}

/// A TCP destination `host:port`: a DNS name (compared in lowercase), an IPv4
/// address, or an IPv6 address in brackets, e.g. `[2001:db8::1]:443`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostPort {
    host: String,
    port: u16,
}

impl HostPort {
    /// The host, as it is looked up.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The destination a guest names with `host` and `port`, normalized the
    /// same way, so that comparing the two is exact.
    pub fn from_parts(host: &str, port: u16) -> Result<HostPort, ParamError> {
        let host = parse_host(host)?;
        if port == 0 {
            return Err(ParamError("port 0 is not a destination".to_string()));
        }
        Ok(HostPort { host, port })
    }
}

fn parse_host(host: &str) -> Result<String, ParamError> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner
            .parse::<Ipv6Addr>()
            .map(|ip| format!("[{ip}]"))
            .map_err(|_| ParamError(format!("`{host}` is not an IPv6 address")));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(match ip {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        });
    }
    let host = host.to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(ParamError(format!(
            "`{host}` is not a host name or IP address, e.g. `updates.example.com` or `10.0.0.1`"
        )));
    }
    Ok(host)
}

impl FromStr for HostPort {
    type Err = ParamError;

    fn from_str(text: &str) -> Result<Self, ParamError> {
        let missing_port = || {
            ParamError(format!(
                "`{text}` has no port: write `host:port`, e.g. `updates.example.com:443`"
            ))
        };
        let (host, port) = text.rsplit_once(':').ok_or_else(missing_port)?;
        if host.contains(':') && !host.starts_with('[') {
            return Err(ParamError(format!(
                "`{text}`: put an IPv6 address in brackets, e.g. `[2001:db8::1]:443`"
            )));
        }
        let port: u16 = port
            .parse()
            .map_err(|_| ParamError(format!("`{port}` in `{text}` is not a port (1-65535)")))?;
        HostPort::from_parts(host, port)
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

macro_rules! string_conversions {
    ($($ty:ty),*) => {$(
        impl TryFrom<String> for $ty {
            type Error = ParamError;
            fn try_from(text: String) -> Result<Self, ParamError> {
                text.parse()
            }
        }
        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.to_string()
            }
        }
    )*};
}
string_conversions!(ServiceName, PathPrefix, ProgramPath, HostPort);

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for PathPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)
    }
}

impl fmt::Display for ProgramPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any arguments, written as a rule would write them, read back as
        /// exactly those arguments, and the rule allows them and only them.
        #[test]
        fn quoted_rules_read_back_their_arguments(
            args in proptest::collection::vec("[ a\"\\\\*\t-]{0,6}", 0..5),
            more in proptest::bool::ANY,
        ) {
            let args: Vec<String> = args
                .into_iter()
                .filter(|a| !a.contains('\t'))
                .collect();
            let mut rule = String::from("/bin/echo");
            for arg in &args {
                rule.push(' ');
                rule.push_str(&rule_word(arg, Os::Linux));
            }
            if more {
                rule.push_str(" *");
            }
            let parsed: ProgramPath = rule.parse().unwrap();
            proptest::prop_assert_eq!(&parsed.args, &args);
            proptest::prop_assert_eq!(parsed.any_more, more);
            proptest::prop_assert_eq!(parsed.as_str(), rule.as_str());
            proptest::prop_assert!(parsed.allows("/bin/echo", &args));
            let mut extra = args.clone();
            extra.push("x".to_string());
            proptest::prop_assert_eq!(parsed.allows("/bin/echo", &extra), more);
        }
    }

    #[test]
    fn service_names() {
        let unit: ServiceName = "cups.service".parse().unwrap();
        assert_eq!((unit.as_str(), unit.os()), ("cups.service", Os::Linux));
        assert!("getty@tty1.service".parse::<ServiceName>().is_ok());
        let spooler: ServiceName = "Spooler".parse().unwrap();
        assert_eq!((spooler.as_str(), spooler.os()), ("Spooler", Os::Windows));
        assert!("MSSQL$SQLEXPRESS".parse::<ServiceName>().is_ok());
        for bad in [
            "-x.service",
            "a b.service",
            "",
            ".service",
            "x;rm.service",
            "Print Spooler",
            r"a\b",
            "a/b",
            "x:y",
        ] {
            assert!(bad.parse::<ServiceName>().is_err(), "{bad}");
        }
        assert_eq!(
            "Print Spooler"
                .parse::<ServiceName>()
                .unwrap_err()
                .to_string(),
            "`Print Spooler` is not a service name: a systemd unit has its type (`cups.service`); a Windows service name has letters, digits and `_.$@-` (`Spooler`, `MSSQL$SQLEXPRESS`)"
        );
    }

    #[test]
    fn windows_program_rules() {
        let args = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let flush: ProgramPath = r"c:\Windows\System32\ipconfig.exe  /flushdns"
            .parse()
            .unwrap();
        assert_eq!(flush.os(), Os::Windows);
        assert_eq!(
            flush.as_str(),
            r"C:\Windows\System32\ipconfig.exe /flushdns"
        );
        assert!(flush.allows(r"C:\Windows\System32\ipconfig.exe", &args(&["/flushdns"])));
        assert!(!flush.allows(r"C:\Windows\System32\ipconfig.exe", &args(&["/release"])));
        let spaced: ProgramPath = r#""C:\\Program Files\\Tool\\tool.exe" --log C:\Temp\x.log *"#
            .parse()
            .unwrap();
        assert_eq!(spaced.path(), r"C:\Program Files\Tool\tool.exe");
        assert!(spaced.allows(
            r"C:\Program Files\Tool\tool.exe",
            &args(&["--log", r"C:\Temp\x.log", "-v"])
        ));
        assert_eq!(spaced.as_str().parse::<ProgramPath>().unwrap(), spaced);
        for bad in [
            r"C:\",
            r"C:\Windows\..\x.exe",
            r"\\server\share\x.exe",
            "C:\\x.exe a\u{202e}b",
        ] {
            assert!(bad.parse::<ProgramPath>().is_err(), "{bad}");
        }
        // A Unix rule keeps quoting its backslashes.
        assert!(r"/usr/bin/x a\b".parse::<ProgramPath>().is_err());
    }

    #[test]
    fn path_prefixes_contain_by_component() {
        let log: PathPrefix = "/var/log".parse().unwrap();
        assert_eq!(log.relative("/var/log"), Some(""));
        assert_eq!(log.relative("/var/log/syslog"), Some("syslog"));
        assert_eq!(log.relative("/var/logs/x"), None);
        assert_eq!(log.relative("/var"), None);
        let root: PathPrefix = "/".parse().unwrap();
        assert_eq!(root.relative("/etc/passwd"), Some("etc/passwd"));
        assert!(log.contains(&"/var/log/apt".parse().unwrap()));
        assert!(!log.contains(&"/var".parse().unwrap()));
    }

    #[test]
    fn paths_must_be_absolute_and_normalized() {
        for bad in [
            "var/log",
            "/var/../etc",
            "/var/./log",
            "/var//log",
            "/var/log/",
            "",
        ] {
            assert!(bad.parse::<PathPrefix>().is_err(), "{bad}");
        }
        assert!("/".parse::<ProgramPath>().is_err());
        assert!("/usr/bin/resolvectl".parse::<ProgramPath>().is_ok());
        let args = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let exact: ProgramPath = "/usr/bin/resolvectl  flush-caches".parse().unwrap();
        assert_eq!(exact.as_str(), "/usr/bin/resolvectl flush-caches");
        assert_eq!(exact.path(), "/usr/bin/resolvectl");
        assert!(exact.allows("/usr/bin/resolvectl", &args(&["flush-caches"])));
        assert!(!exact.allows("/usr/bin/resolvectl", &args(&[])));
        assert!(!exact.allows("/usr/bin/resolvectl", &args(&["flush-caches", "x"])));
        assert!(!exact.allows("/usr/bin/resolvectl", &args(&["dns", "eth0", "1.2.3.4"])));
        assert!(!exact.allows("/usr/bin/other", &args(&["flush-caches"])));
        let bare: ProgramPath = "/usr/bin/uptime".parse().unwrap();
        assert!(bare.allows("/usr/bin/uptime", &args(&[])));
        assert!(!bare.allows("/usr/bin/uptime", &args(&["-p"])));
        let open: ProgramPath = "/usr/bin/journalctl --no-pager -u *".parse().unwrap();
        assert!(open.allows(
            "/usr/bin/journalctl",
            &args(&["--no-pager", "-u", "cups.service"])
        ));
        assert!(open.allows("/usr/bin/journalctl", &args(&["--no-pager", "-u"])));
        assert!(!open.allows("/usr/bin/journalctl", &args(&["-u", "cups.service"])));
        assert!("/usr/bin/journalctl * -u".parse::<ProgramPath>().is_err());
        // Quoted arguments: spaces, quotes, backslashes, empty, a literal `*`.
        let since: ProgramPath = r#"/usr/bin/journalctl --since  "1 hour ago" *"#.parse().unwrap();
        assert_eq!(
            since.as_str(),
            r#"/usr/bin/journalctl --since "1 hour ago" *"#
        );
        assert!(since.allows(
            "/usr/bin/journalctl",
            &args(&["--since", "1 hour ago", "-u", "cups"])
        ));
        assert!(!since.allows(
            "/usr/bin/journalctl",
            &args(&["--since", "1", "hour", "ago"])
        ));
        let odd: ProgramPath = r#"/bin/echo "say \"hi\"" "a\\b" "" "*""#.parse().unwrap();
        assert!(odd.allows("/bin/echo", &args(&[r#"say "hi""#, r"a\b", "", "*"])));
        assert!(!odd.allows("/bin/echo", &args(&[r#"say "hi""#, r"a\b", "", "x"])));
        // Canonical: the same rule however it was written parses to itself.
        assert_eq!(odd.as_str().parse::<ProgramPath>().unwrap(), odd);
        for deceptive in [
            "\"/usr/bin/x\r\u{1b}[2K\" --all",
            "/usr/bin/x \"a\u{1b}b\"",
            "/usr/bin/x \"a\tb\"",
            "/usr/bin/x a\u{202e}b",
            "/usr/bin/x a\u{a0}b",
            "/usr/bin/x\u{7}",
        ] {
            let error = deceptive.parse::<ProgramPath>().unwrap_err().to_string();
            assert!(error.contains("may hold no control characters"), "{error}");
        }
        assert!(r"/usr/bin/x 1\ hour".parse::<ProgramPath>().is_err());
        let spaced: ProgramPath = r#""/opt/my tools/fix" --all"#.parse().unwrap();
        assert_eq!(spaced.path(), "/opt/my tools/fix");
        assert_eq!(spaced.as_str().parse::<ProgramPath>().unwrap(), spaced);
        let plain: ProgramPath = r#"/usr/bin/resolvectl "flush-caches""#.parse().unwrap();
        assert_eq!(plain, exact);
        for bad in [
            r#"/bin/echo "open"#,
            r#"/bin/echo "a"b"#,
            r#"/bin/echo a"b"#,
            r#"/bin/echo "a\nb""#,
            r#""/bin/echo" "*" * x"#,
        ] {
            assert!(bad.parse::<ProgramPath>().is_err(), "{bad}");
        }
    }

    #[test]
    fn host_ports_normalize() {
        let hp: HostPort = "Updates.Example.COM:443".parse().unwrap();
        assert_eq!(hp.to_string(), "updates.example.com:443");
        assert_eq!(
            "[2001:DB8::1]:53".parse::<HostPort>().unwrap().to_string(),
            "[2001:db8::1]:53"
        );
        assert_eq!(
            HostPort::from_parts("2001:db8::1", 53).unwrap().to_string(),
            "[2001:db8::1]:53"
        );
        assert_eq!(
            "10.0.0.1:22".parse::<HostPort>().unwrap().to_string(),
            "10.0.0.1:22"
        );
        for bad in [
            "example.com",
            "example.com:0",
            "example.com:99999",
            "2001:db8::1:53",
            "a_b.com:1",
            ":80",
        ] {
            assert!(bad.parse::<HostPort>().is_err(), "{bad}");
        }
    }
}
