//! The documentation's links hold: every relative link in README.md, SECURITY.md, BENCHMARKS.md
//! and docs/**/*.md names a file that exists, and every `#anchor` names a heading of its page
//! by GitHub's slug rules. And the README stays short enough to read first.
//!
//! Markdown is read by hand (no regex crate here): fenced code blocks and inline code are not
//! links; http(s) and mailto links are not followed; headings are ATX (`#` to `######`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bridge_relay_tests::workspace_root;

/// The README is the first page a newcomer reads; the rest lives in docs/.
const README_MAX_LINES: usize = 300;

/// The markdown files whose links are checked, relative to the workspace root.
fn documentation_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["README.md", "SECURITY.md", "BENCHMARKS.md"]
        .iter()
        .map(|name| root.join(name))
        .collect();
    let mut folders = vec![root.join("docs")];
    let mut in_docs = Vec::new();
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("{folder:?}: {e}")) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|ext| ext == "md") {
                in_docs.push(path);
            }
        }
    }
    in_docs.sort();
    files.extend(in_docs);
    files
}

/// Whether `line` opens or closes a fenced code block: its fence (the character and length).
fn fence(line: &str) -> Option<(char, usize)> {
    let trimmed = line.trim_start();
    let ch = trimmed.chars().next()?;
    if ch != '`' && ch != '~' {
        return None;
    }
    let length = trimmed.chars().take_while(|&c| c == ch).count();
    (length >= 3).then_some((ch, length))
}

/// The file's lines with those of fenced code blocks (fences included) blanked, so that line
/// numbers stay those of the file.
fn prose_lines(text: &str) -> Vec<String> {
    let mut open: Option<(char, usize)> = None;
    let mut lines = Vec::new();
    for line in text.lines() {
        match (open, fence(line)) {
            (None, Some(opened)) => {
                open = Some(opened);
                lines.push(String::new());
            }
            (Some((ch, length)), Some((closing, closing_length)))
                if closing == ch
                    && closing_length >= length
                    && line.trim().chars().all(|c| c == ch) =>
            {
                open = None;
                lines.push(String::new());
            }
            (Some(_), _) => lines.push(String::new()),
            (None, None) => lines.push(line.to_string()),
        }
    }
    lines
}

/// The text of a heading line (`## Text ##` -> `Text`), if it is one.
fn heading_text(line: &str) -> Option<&str> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let line = &line[indent..];
    let level = line.chars().take_while(|&c| c == '#').count();
    let rest = &line[level..];
    if !(1..=6).contains(&level) || !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let text = rest.trim();
    // A closing run of `#` counts only after a space (`# C#` keeps its `#`).
    let unclosed = text.trim_end_matches('#');
    Some(if unclosed.is_empty() || unclosed.ends_with([' ', '\t']) {
        unclosed.trim_end()
    } else {
        text
    })
}

/// What a heading reads as rendered: links by their text, images by their alt text.
fn rendered(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('[') {
        let Some(close) = rest[start..].find("](") else {
            break;
        };
        let Some(end) = rest[start + close..].find(')') else {
            break;
        };
        out.push_str(rest[..start].trim_end_matches('!'));
        out.push_str(&rest[start + 1..start + close]);
        rest = &rest[start + close + end + 1..];
    }
    out.push_str(rest);
    out
}

/// GitHub's anchor for a heading: lowercase; only letters, digits, spaces, hyphens and
/// underscores kept; each space a hyphen.
fn slug(heading: &str) -> String {
    rendered(heading)
        .to_lowercase()
        .chars()
        .filter(|&c| c.is_alphanumeric() || c == ' ' || c == '-' || c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every anchor of a page, in GitHub's way: a repeated heading gets `-1`, `-2`, ...
fn anchors(text: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut anchors = Vec::new();
    for line in prose_lines(text) {
        let Some(heading) = heading_text(&line) else {
            continue;
        };
        let base = slug(heading);
        let count = seen.entry(base.clone()).or_insert(0);
        anchors.push(if *count == 0 {
            base.clone()
        } else {
            format!("{base}-{count}")
        });
        *count += 1;
    }
    anchors
}

/// The paragraph's text with its inline code spans blanked (a backtick run closes only at a run
/// of the same length; an unclosed one is literal), newlines kept.
fn without_code_spans(paragraph: &str) -> String {
    let chars: Vec<char> = paragraph.chars().collect();
    let mut out = chars.clone();
    let run_at = |i: usize| chars[i..].iter().take_while(|&&c| c == '`').count();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            i += 1;
            continue;
        }
        let length = run_at(i);
        let mut j = i + length;
        let mut closed = None;
        while j < chars.len() {
            if chars[j] == '`' {
                let other = run_at(j);
                if other == length {
                    closed = Some(j + other);
                    break;
                }
                j += other;
            } else {
                j += 1;
            }
        }
        match closed {
            Some(end) => {
                for c in &mut out[i..end] {
                    if *c != '\n' {
                        *c = ' ';
                    }
                }
                i = end;
            }
            None => i += length,
        }
    }
    out.into_iter().collect()
}

/// The link targets of a file with their line numbers: inline links and images
/// (`[text](target "title")`) and reference definitions (`[label]: target`).
fn links(text: &str) -> Vec<(usize, String)> {
    let lines = prose_lines(text);
    let mut found = Vec::new();
    // Paragraphs (runs of non-blank lines), so that code spans and link texts may cross lines.
    let mut start = 0;
    while start < lines.len() {
        if lines[start].trim().is_empty() {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < lines.len() && !lines[end].trim().is_empty() {
            end += 1;
        }
        let paragraph = without_code_spans(&lines[start..end].join("\n"));
        for (offset, line) in paragraph.lines().enumerate() {
            let definition = line.trim_start();
            if let Some(label_end) = definition.find("]:")
                && definition.starts_with('[')
                && !definition[..label_end].contains('[')
            {
                let target = definition[label_end + 2..].split_whitespace().next();
                if let Some(target) = target {
                    found.push((start + offset + 1, target.to_string()));
                }
            }
        }
        let mut from = 0;
        while let Some(at) = paragraph[from..].find("](") {
            let open = from + at + 2;
            let mut depth = 1;
            let mut close = None;
            for (i, c) in paragraph[open..].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            close = Some(open + i);
                            break;
                        }
                    }
                    '\n' => break,
                    _ => {}
                }
            }
            let Some(close) = close else {
                from = open;
                continue;
            };
            let inside = paragraph[open..close].trim();
            let target = if let Some(angled) = inside.strip_prefix('<') {
                angled.split('>').next().unwrap_or_default()
            } else {
                inside.split_whitespace().next().unwrap_or_default()
            };
            let line = start + paragraph[..open].matches('\n').count() + 1;
            found.push((line, target.to_string()));
            from = close;
        }
        start = end;
    }
    found
}

/// Every dangling link of the files, as `file:line: target` (file relative to `root`).
fn dangling_links(root: &Path, files: &[PathBuf]) -> Vec<String> {
    let mut page_anchors: HashMap<PathBuf, Vec<String>> = HashMap::new();
    let mut anchors_of = |page: &Path| -> Vec<String> {
        page_anchors
            .entry(page.to_path_buf())
            .or_insert_with(|| anchors(&std::fs::read_to_string(page).unwrap_or_default()))
            .clone()
    };
    let mut dangling = Vec::new();
    for file in files {
        let text =
            std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let shown = file
            .strip_prefix(root)
            .unwrap_or(file)
            .display()
            .to_string();
        for (line, target) in links(&text) {
            let external = ["http://", "https://", "mailto:"]
                .iter()
                .any(|scheme| target.to_ascii_lowercase().starts_with(scheme));
            if external || target.is_empty() {
                continue;
            }
            let (path, fragment) = match target.split_once('#') {
                Some((path, fragment)) => (path, Some(fragment)),
                None => (target.as_str(), None),
            };
            let page = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            let ok = if !page.exists() {
                false
            } else {
                match fragment {
                    Some(fragment) if page.extension().is_some_and(|ext| ext == "md") => {
                        anchors_of(&page).iter().any(|anchor| anchor == fragment)
                    }
                    // A fragment of another kind of file (`#L10`) is not a heading.
                    _ => true,
                }
            };
            if !ok {
                dangling.push(format!("{shown}:{line}: {target}"));
            }
        }
    }
    dangling
}

#[test]
fn every_documentation_link_lands() {
    let root = workspace_root();
    let files = documentation_files(&root);
    assert!(
        files.iter().any(|f| f.ends_with("docs/README.md")),
        "docs/README.md (the index) is missing"
    );
    let dangling = dangling_links(&root, &files);
    assert!(
        dangling.is_empty(),
        "{} dangling link(s):\n{}",
        dangling.len(),
        dangling.join("\n")
    );
}

#[test]
fn the_readme_is_short() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines (at most {README_MAX_LINES}): move the detail to a page of docs/"
    );
}

#[test]
fn slugs_follow_github() {
    assert_eq!(
        slug("Zoom event notifications: the call on the timeline"),
        "zoom-event-notifications-the-call-on-the-timeline"
    );
    assert_eq!(
        slug("Before the first incident: `bridge-relay doctor`"),
        "before-the-first-incident-bridge-relay-doctor"
    );
    assert_eq!(slug("incident.io"), "incidentio");
    assert_eq!(
        slug("Moto's time taken out (issue 17's ratio), 2026-12-04"),
        "motos-time-taken-out-issue-17s-ratio-2026-12-04"
    );
    assert_eq!(
        slug("1. V3 webhook subscription (automatic)"),
        "1-v3-webhook-subscription-automatic"
    );
    assert_eq!(
        slug("snake_case and [a link](x.md)"),
        "snake_case-and-a-link"
    );
    assert_eq!(
        anchors("# Notes\n## Notes\n```\n# not a heading\n```\n### Notes ##\n#hashtag\n"),
        ["notes", "notes-1", "notes-2"]
    );
}

/// The check fails, naming each dangling link by file and line, and passes what is sound.
#[test]
fn a_dangling_link_is_reported_with_its_file_and_line() {
    let root = std::env::temp_dir().join(format!("bridge-relay-docs-links-{}", std::process::id()));
    let docs = root.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        root.join("README.md"),
        "# Relay\n\n\
         See [the page](docs/page.md), [a part](docs/page.md#a-part-two) and\n\
         [missing](docs/gone.md); [here](#relay), [not here](#nowhere).\n\
         `[code](docs/gone.md)` and [split `code`\ntext](docs/page.md#a-part).\n\n\
         ```sh\n[fenced](docs/gone.md)\n```\n\
         [web](https://example.com/x.md#y) [mail](mailto:a@example.com)\n",
    )
    .unwrap();
    std::fs::write(
        docs.join("page.md"),
        "# Page\n\n## A part\n\n## A part\n\nBack to [the README](../README.md#relay) and \
         [a line](../code.rs#L3), [wrong](../README.md#page).\n",
    )
    .unwrap();
    std::fs::write(root.join("code.rs"), "fn main() {}\n").unwrap();
    let files = vec![root.join("README.md"), docs.join("page.md")];
    let dangling = dangling_links(&root, &files);
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(
        dangling,
        [
            "README.md:3: docs/page.md#a-part-two",
            "README.md:4: docs/gone.md",
            "README.md:4: #nowhere",
            "docs/page.md:7: ../README.md#page",
        ]
    );
}
