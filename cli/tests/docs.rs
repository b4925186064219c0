//! The documentation against the code. The references in `docs/reference/`
//! list what the code defines — every refusal code with its HTTP status,
//! every exit status, every audit record kind, capability, outcome, route,
//! operation, permission, command and environment variable — and each test
//! here reads the source as text and fails naming what a reference lacks.
//! Every relative link in the README and in `docs/` must lead to a file that
//! exists (and, for a link into a Markdown file, to one of its headings).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A file of the repository, as text.
fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Every `.rs` file under `dir`, as text, with its path.
fn sources(dir: &str) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut pending = vec![root().join(dir)];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
                found.push((path, text));
            }
        }
    }
    found
}

/// The index just past the brace that closes the one at `open`, skipping
/// braces inside string and character literals and comments.
fn matching_brace(text: &str, open: usize) -> usize {
    let bytes = text.as_bytes();
    assert_eq!(bytes[open], b'{', "not a brace at {open}");
    let mut depth = 0usize;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'\'' if i + 2 < bytes.len() && (bytes[i + 2] == b'\'' || bytes[i + 1] == b'\\') => {
                // A character literal ('{', '\\'), not a lifetime.
                i += 2;
                while i < bytes.len() && bytes[i] != b'\'' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!("no closing brace for the one at {open}")
}

/// The braced body of the first item introduced by `header` after the first
/// `after` in `source` (`after` empty: from the start).
fn body<'a>(source: &'a str, file: &str, after: &str, header: &str) -> &'a str {
    let from = source
        .find(after)
        .unwrap_or_else(|| panic!("{file}: no `{after}` (has the code moved? update this test)"));
    let start = from
        + source[from..].find(header).unwrap_or_else(|| {
            panic!("{file}: no `{header}` after `{after}` (has the code moved? update this test)")
        });
    let open = start
        + source[start..]
            .find('{')
            .unwrap_or_else(|| panic!("{file}: `{header}` has no body"));
    &source[open..matching_brace(source, open)]
}

/// Every string literal in `text`.
fn literals(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let end = after.find('"').unwrap_or(after.len());
        found.push(after[..end].to_string());
        rest = &after[(end + 1).min(after.len())..];
    }
    found
}

/// Whether `word` is a stable kebab-case code: lowercase words joined by
/// dashes.
fn is_code(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_lowercase())
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The kebab-case literals of a function's body: the codes it returns.
fn codes_in(text: &str) -> BTreeSet<String> {
    literals(text).into_iter().filter(|l| is_code(l)).collect()
}

/// The arms of a `match` over `Enum::Variant` in `text`: each variant with
/// the value its arm gives (a literal's text, a number, or a path's last
/// segment). Arms that join variants with `|` give each the value.
fn arms(text: &str, enum_name: &str) -> BTreeMap<String, String> {
    let prefix = format!("{enum_name}::");
    let mut found = BTreeMap::new();
    let mut pending: Vec<String> = Vec::new();
    let mut rest = text;
    loop {
        let next_variant = rest.find(&prefix);
        let next_arrow = rest.find("=>");
        match (next_variant, next_arrow) {
            (Some(v), arrow) if arrow.is_none_or(|a| v < a) => {
                let after = &rest[v + prefix.len()..];
                let end = after
                    .find(|c: char| !c.is_alphanumeric() && c != '_')
                    .unwrap_or(after.len());
                pending.push(after[..end].to_string());
                rest = &after[end..];
            }
            (_, Some(a)) => {
                let after = rest[a + 2..].trim_start();
                let after = after.strip_prefix('{').unwrap_or(after).trim_start();
                let value = if let Some(literal) = after.strip_prefix('"') {
                    literal[..literal.find('"').unwrap_or(literal.len())].to_string()
                } else {
                    let end = after
                        .find(|c: char| !c.is_alphanumeric() && c != '_' && c != ':')
                        .unwrap_or(after.len());
                    let path = &after[..end];
                    path.rsplit("::").next().unwrap_or(path).to_string()
                };
                for variant in pending.drain(..) {
                    found.insert(variant, value.clone());
                }
                rest = &rest[a + 2..];
            }
            _ => break,
        }
    }
    found
}

/// The variants of an enum's body, in order.
fn variants(enum_body: &str) -> Vec<String> {
    enum_body
        .lines()
        .filter(|line| line.starts_with("    ") && !line.starts_with("     "))
        .map(str::trim)
        .filter(|line| line.starts_with(|c: char| c.is_ascii_uppercase()))
        .map(|line| {
            let end = line
                .find(|c: char| !c.is_alphanumeric() && c != '_')
                .unwrap_or(line.len());
            line[..end].to_string()
        })
        .collect()
}

/// `RequestSession` as `request-session`.
fn kebab(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Text with every run of whitespace made one space.
fn squeezed(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The cells of the table row of `doc` whose first cell is `first`, if any.
fn row<'a>(doc: &'a str, first: &str) -> Option<Vec<&'a str>> {
    doc.lines()
        .map(|line| line.trim())
        .filter(|line| line.starts_with('|'))
        .map(|line| {
            line.trim_matches('|')
                .split(" | ")
                .map(str::trim)
                .collect::<Vec<_>>()
        })
        .find(|cells| cells.first() == Some(&first))
}

/// Fails naming every item of `missing`, if there is one.
#[track_caller]
fn assert_none_missing(doc: &str, missing: &[String]) {
    assert!(
        missing.is_empty(),
        "{doc} lacks what the code defines:\n  {}",
        missing.join("\n  ")
    );
}

const ERRORS: &str = "docs/reference/errors.md";

/// The HTTP status of a `StatusCode` constant.
fn http_status(name: &str) -> u16 {
    match name {
        "OK" => 200,
        "BAD_REQUEST" => 400,
        "UNAUTHORIZED" => 401,
        "FORBIDDEN" => 403,
        "NOT_FOUND" => 404,
        "METHOD_NOT_ALLOWED" => 405,
        "REQUEST_TIMEOUT" => 408,
        "CONFLICT" => 409,
        "PAYLOAD_TOO_LARGE" => 413,
        "REQUEST_HEADER_FIELDS_TOO_LARGE" => 431,
        "INTERNAL_SERVER_ERROR" => 500,
        "SERVICE_UNAVAILABLE" => 503,
        other => panic!("StatusCode::{other}: add its number to this test's table"),
    }
}

/// Each code the service answers with next to its status — `StatusCode::X,
/// "code"` or `"code", StatusCode::X` — in `text`.
fn statuses(text: &str) -> BTreeSet<(String, u16)> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("StatusCode::") {
        let after = &text[at + "StatusCode::".len()..];
        let end = after
            .find(|c: char| !c.is_ascii_uppercase() && c != '_')
            .unwrap_or(after.len());
        let name = &after[..end];
        if name.is_empty() {
            continue;
        }
        // After: `StatusCode::X, "code"`.
        let next = after[end..].trim_start();
        if let Some(next) = next.strip_prefix(',')
            && let Some(literal) = next.trim_start().strip_prefix('"')
        {
            let code = &literal[..literal.find('"').unwrap_or(0)];
            if is_code(code) {
                found.insert((code.to_string(), http_status(name)));
            }
        }
        // Before: `"code", StatusCode::X`.
        let before = text[..at].trim_end();
        if let Some(before) = before.strip_suffix(',')
            && let Some(before) = before.trim_end().strip_suffix('"')
        {
            let start = before.rfind('"').map_or(0, |s| s + 1);
            let code = &before[start..];
            if is_code(code) {
                found.insert((code.to_string(), http_status(name)));
            }
        }
    }
    found
}

/// Every code in `Refusal::code`, in `PolicyRefusal::code` and in
/// `Denial::code` is a row of the errors
/// reference; each code the service answers with next to its HTTP status
/// has that status in its row.
#[test]
fn every_refusal_code_is_in_the_errors_reference() {
    let doc = read(ERRORS);
    let mut codes = BTreeSet::new();

    let refusals = read("runtime/src/endpoint/refusals.rs");
    let refusal_codes = codes_in(body(
        &refusals,
        "refusals.rs",
        "impl Refusal",
        "fn code(&self)",
    ));
    assert!(
        refusal_codes.len() >= 20,
        "Refusal::code gave only {refusal_codes:?}: has its form changed? update this test"
    );
    codes.extend(refusal_codes);

    let policy = read("runtime/src/policy/mod.rs");
    let policy_codes = codes_in(body(
        &policy,
        "policy/mod.rs",
        "impl PolicyRefusal",
        "fn code(&self)",
    ));
    assert!(
        policy_codes.contains("separation-of-duties"),
        "{policy_codes:?}"
    );
    codes.extend(policy_codes);

    let decision = read("runtime/src/decision.rs");
    let denial_codes = codes_in(body(
        &decision,
        "decision.rs",
        "impl Denial",
        "fn code(&self)",
    ));
    assert!(
        denial_codes.contains("session-not-active"),
        "{denial_codes:?}"
    );
    codes.extend(denial_codes);

    // An operation sent to the wrong route has a refusal of its own.
    for expected in ["not-streamed", "streamed-only"] {
        assert!(
            codes.contains(expected),
            "no refusal with `{expected}` found in Refusal::code: {codes:?}"
        );
    }

    // The codes the HTTP layer answers with by itself, and the statuses the
    // service's tests hold every refusal to.
    let mut with_status = BTreeSet::new();
    for (_, text) in sources("cli/src/serve") {
        with_status.extend(statuses(&text));
    }
    assert!(
        with_status.iter().any(|(code, _)| code == "slow-body"),
        "no HTTP statuses found in cli/src/serve: has its form changed? update this test"
    );
    codes.extend(with_status.iter().map(|(code, _)| code.clone()));

    let mut missing = Vec::new();
    for code in &codes {
        let quoted = format!("`{code}`");
        if row(&doc, &quoted).is_none() {
            missing.push(format!(
                "the code {quoted} (a table row starting `| {quoted} |`)"
            ));
        }
    }
    for (code, status) in &with_status {
        let quoted = format!("`{code}`");
        if let Some(cells) = row(&doc, &quoted)
            && !cells.contains(&status.to_string().as_str())
        {
            missing.push(format!(
                "the HTTP status {status} of {quoted} (in its row: {cells:?})"
            ));
        }
    }
    assert_none_missing(ERRORS, &missing);
}

/// Every exit status of `Exit` — its number and its word — and every status
/// `salve --help` lists is a row of the errors reference.
#[test]
fn every_exit_status_is_in_the_errors_reference() {
    let doc = read(ERRORS);
    let exit = read("cli/src/exit.rs");
    let declared = body(&exit, "exit.rs", "", "pub enum Exit");
    let numbers: BTreeMap<String, String> = declared
        .lines()
        .filter_map(|line| {
            let (name, number) = line.trim().trim_end_matches(',').split_once(" = ")?;
            let valid = name.starts_with(|c: char| c.is_ascii_uppercase())
                && number.chars().all(|c| c.is_ascii_digit());
            valid.then(|| (name.to_string(), number.to_string()))
        })
        .collect();
    let words = arms(body(&exit, "exit.rs", "impl Exit", "fn code(self)"), "Exit");
    assert!(
        numbers.len() >= 8 && words.len() == numbers.len(),
        "Exit: numbers {numbers:?}, words {words:?}: has its form changed? update this test"
    );
    let mut missing = Vec::new();
    for (name, number) in &numbers {
        let word = format!("`{}`", words.get(name).map_or("?", String::as_str));
        match row(&doc, number) {
            Some(cells) if cells.contains(&word.as_str()) => {}
            _ => missing.push(format!(
                "exit status {number} ({name}, {word}): a row `| {number} | {word} | … |`"
            )),
        }
    }
    // And what `salve --help` says besides (141, for SIGPIPE).
    let args = read("cli/src/args.rs");
    let help = args
        .split("Exit status:")
        .nth(1)
        .expect("cli/src/args.rs: no `Exit status:` in the help");
    for line in help.lines().skip(1).take_while(|l| !l.trim().is_empty()) {
        let number = line.split_whitespace().next().unwrap_or_default();
        if number.chars().all(|c| c.is_ascii_digit()) && row(&doc, number).is_none() {
            missing.push(format!("exit status {number} (from `salve --help`)"));
        }
    }
    assert_none_missing(ERRORS, &missing);
}

/// Every audit record kind is in the audit records reference, with its
/// stable number: "`request.refused` 1001".
#[test]
fn every_record_kind_is_in_the_audit_reference() {
    const DOC: &str = "docs/reference/audit-records.md";
    let doc = squeezed(&read(DOC));
    let record = read("runtime/src/audit/record.rs");
    let numbers = arms(
        body(&record, "record.rs", "impl Kind", "fn code(self)"),
        "Kind",
    );
    let names = arms(
        body(&record, "record.rs", "impl Kind", "fn name(self)"),
        "Kind",
    );
    assert!(
        numbers.len() >= 20 && names.len() == numbers.len(),
        "Kind: {numbers:?} {names:?}: has its form changed? update this test"
    );
    let missing: Vec<String> = numbers
        .iter()
        .map(|(kind, number)| format!("`{}` {number}", names[kind]))
        .filter(|entry| !doc.contains(entry.as_str()))
        .collect();
    assert_none_missing(DOC, &missing);
}

/// Every capability is a row of the sandbox reference's table with its
/// class, and every outcome code is in it.
#[test]
fn every_capability_and_outcome_is_in_the_sandbox_reference() {
    const DOC: &str = "docs/reference/sandbox.md";
    let doc = read(DOC);
    // Each capability's facts are in the SPEC of the host module that
    // `Capability::spec` names for it.
    let capability = read("runtime/src/capability.rs");
    let registry = body(
        &capability,
        "capability.rs",
        "impl Capability",
        "fn spec(self)",
    );
    let mut names = BTreeMap::new();
    let mut classes = BTreeMap::new();
    for arm in registry.split("Capability::").skip(1) {
        let variant: String = arm.chars().take_while(|c| c.is_alphanumeric()).collect();
        let module = arm
            .split("host::")
            .nth(1)
            .and_then(|m| m.split("::SPEC").next())
            .unwrap_or_else(|| panic!("capability.rs: `{arm}` names no host module's SPEC"));
        // A module split by operating system keeps its SPEC in `mod.rs`.
        let file = format!("runtime/src/host/{module}.rs");
        let spec = if root().join(&file).exists() {
            read(&file)
        } else {
            read(&format!("runtime/src/host/{module}/mod.rs"))
        };
        let field = |key: &str| {
            let after = spec
                .split(key)
                .nth(1)
                .unwrap_or_else(|| panic!("host/{module}.rs: its SPEC has no `{key}`"));
            after
                .trim_start_matches(['"', ' '])
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '-')
                .collect::<String>()
        };
        names.insert(variant.clone(), field("name: \""));
        classes.insert(variant, field("class: CapabilityClass::"));
    }
    assert!(
        names.len() >= 8 && classes.len() == names.len(),
        "Capability: {names:?} {classes:?}: has its form changed? update this test"
    );
    let mut missing = Vec::new();
    for (variant, name) in &names {
        let class = classes[variant].to_lowercase();
        let quoted = format!("`{name}`");
        match row(&doc, &quoted) {
            Some(cells) if cells.get(1) == Some(&class.as_str()) => {}
            _ => missing.push(format!("a row `| {quoted} | {class} | … |`")),
        }
    }
    let outcome = read("runtime/src/outcome.rs");
    let mut outcomes = codes_in(body(
        &outcome,
        "outcome.rs",
        "impl StopReason",
        "fn code(self)",
    ));
    outcomes.extend(codes_in(body(
        &outcome,
        "outcome.rs",
        "impl Outcome",
        "fn code(&self)",
    )));
    assert!(outcomes.contains("cancelled") && outcomes.contains("succeeded"));
    for code in outcomes {
        if !doc.contains(&format!("`{code}`")) {
            missing.push(format!("the outcome `{code}`"));
        }
    }
    assert_none_missing(DOC, &missing);
}

/// Every route of the service (with its method) and every operation of a
/// signed request is in the API reference.
#[test]
fn every_route_and_operation_is_in_the_api_reference() {
    const DOC: &str = "docs/reference/api.md";
    let doc = read(DOC);
    let mut missing = Vec::new();
    let api = read("cli/src/serve/api.rs");
    let mut routes = 0;
    for (at, _) in api.match_indices(".route(\"") {
        let after = &api[at + ".route(\"".len()..];
        let path = &after[..after.find('"').expect("a route's closing quote")];
        let method = after[path.len() + 1..]
            .trim_start_matches([',', ' ', '\n'])
            .split('(')
            .next()
            .unwrap_or_default()
            .to_uppercase();
        routes += 1;
        let route = format!("`{method} {path}`");
        if row(&doc, &route).is_none() {
            missing.push(format!("the route {route} (a row of the routes table)"));
        }
    }
    assert!(
        routes >= 5,
        "only {routes} routes found in cli/src/serve/api.rs"
    );

    let operations = read("runtime/src/api/v1/operation.rs");
    let declared = variants(body(&operations, "operation.rs", "", "pub enum Operation"));
    assert!(declared.len() >= 15, "Operation: {declared:?}");
    for variant in declared {
        let op = format!("`{}`", kebab(&variant));
        if !doc.contains(&op) {
            missing.push(format!("the operation {op}"));
        }
    }
    assert_none_missing(DOC, &missing);
}

/// Every permission a role may hold is in the policy reference.
#[test]
fn every_permission_is_in_the_policy_reference() {
    const DOC: &str = "docs/reference/policy.md";
    let doc = read(DOC);
    let file = read("runtime/src/policy/file.rs");
    let names = arms(
        body(&file, "policy/file.rs", "impl Permission", "fn name(self)"),
        "Permission",
    );
    assert!(names.len() >= 7, "Permission: {names:?}");
    let missing: Vec<String> = names
        .values()
        .map(|name| format!("`{name}`"))
        .filter(|quoted| !doc.contains(quoted.as_str()))
        .map(|quoted| format!("the permission {quoted}"))
        .collect();
    assert_none_missing(DOC, &missing);
}

/// Every command and subcommand of `salve` is in the command line
/// reference's synopsis, and every environment variable the program reads
/// is in its table.
#[test]
fn every_command_and_variable_is_in_the_cli_reference() {
    const DOC: &str = "docs/reference/cli.md";
    let doc = read(DOC);
    let args = read("cli/src/args.rs");
    let synopsis: Vec<Vec<&str>> = doc
        .lines()
        .filter(|line| line.starts_with("salve "))
        .map(|line| {
            line.split(|c: char| !c.is_ascii_lowercase() && c != '-')
                .filter(|w| !w.is_empty())
                .collect()
        })
        .collect();
    let mut missing = Vec::new();
    let commands = body(&args, "args.rs", "", "pub enum Command");
    let top = variants(commands);
    assert!(top.len() >= 15, "Command: {top:?}");
    for variant in top {
        let command = kebab(&variant);
        let lines: Vec<&Vec<&str>> = synopsis
            .iter()
            .filter(|words| words.get(1) == Some(&command.as_str()))
            .collect();
        if lines.is_empty() {
            missing.push(format!("`salve {command}` (a line of the synopsis)"));
            continue;
        }
        // A command with subcommands: `Session(SessionCommand)`.
        let inner = format!("{variant}({variant}Command)");
        if commands.contains(&inner) {
            let header = format!("pub enum {variant}Command");
            for sub in variants(body(&args, "args.rs", "", &header)) {
                let sub = kebab(&sub);
                if !lines.iter().any(|words| words[2..].contains(&sub.as_str())) {
                    missing.push(format!("`salve {command} {sub}` (in the synopsis)"));
                }
            }
        }
    }
    let mut variables = BTreeSet::new();
    for (_, text) in sources("cli/src") {
        for (at, _) in text.match_indices("SALVE_") {
            let rest = &text[at..];
            let end = rest
                .find(|c: char| !c.is_ascii_uppercase() && c != '_')
                .unwrap_or(rest.len());
            variables.insert(rest[..end].trim_end_matches('_').to_string());
        }
    }
    assert!(variables.contains("SALVE_KEY"), "{variables:?}");
    for variable in variables {
        let quoted = format!("`{variable}`");
        if row(&doc, &quoted).is_none() {
            missing.push(format!(
                "the environment variable {quoted} (a row of its table)"
            ));
        }
    }
    assert_none_missing(DOC, &missing);
}

/// GitHub's anchor for a heading: lowercase, punctuation dropped, spaces as
/// dashes.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The lines of a Markdown file outside its fenced code blocks.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// The anchors of a Markdown file's headings (a repeated heading's get `-1`,
/// `-2`… as on GitHub).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut found = BTreeSet::new();
    for line in prose(text) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let base = slug(heading);
        let count = seen.entry(base.clone()).or_insert(0);
        found.insert(if *count == 0 {
            base.clone()
        } else {
            format!("{base}-{count}")
        });
        *count += 1;
    }
    found
}

/// The README and every Markdown file under `docs/`.
fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut pending = vec![root().join("docs")];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Every relative link in the README and in `docs/` leads to a file or
/// directory that exists, and a link to a heading to one that is there.
#[test]
fn every_relative_link_leads_somewhere() {
    let files = markdown_files();
    assert!(
        files.len() >= 10,
        "only {} Markdown files: {files:?}",
        files.len()
    );
    let mut broken = Vec::new();
    let mut links = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a Markdown file");
        let name = file
            .strip_prefix(root())
            .unwrap_or(file)
            .display()
            .to_string();
        let mut fenced = false;
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
            }
            if fenced {
                continue;
            }
            for (at, _) in line.match_indices("](") {
                let rest = &line[at + 2..];
                let Some(end) = rest.find(')') else {
                    continue;
                };
                let target = &rest[..end];
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                links += 1;
                let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
                let resolved = if path.is_empty() {
                    file.clone()
                } else {
                    file.parent().expect("a parent").join(path)
                };
                let at = format!("{name}:{}: `{target}`", number + 1);
                if !resolved.exists() {
                    broken.push(format!("{at}: no such file"));
                    continue;
                }
                if !anchor.is_empty() && resolved.extension().is_some_and(|e| e == "md") {
                    let headings =
                        anchors(&std::fs::read_to_string(&resolved).expect("a Markdown file"));
                    if !headings.contains(anchor) {
                        broken.push(format!("{at}: no heading `#{anchor}` there"));
                    }
                }
            }
        }
    }
    assert!(links >= 50, "only {links} relative links found");
    assert!(
        broken.is_empty(),
        "broken links:\n  {}",
        broken.join("\n  ")
    );
}
