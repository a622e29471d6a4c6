//! The project stands alone: its README and docs link only to files in the repository, and
//! every repository path they name exists.

use std::path::{Component, Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `path` joined to `base` with `.` and `..` folded, or `None` if it climbs above `root`.
fn inside(root: &Path, base: &Path, path: &str) -> Option<PathBuf> {
    let mut out: Vec<Component> = base.components().collect();
    let floor = root.components().count();
    for c in Path::new(path).components() {
        match c {
            Component::ParentDir => {
                if out.len() <= floor {
                    return None;
                }
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    Some(out.iter().collect())
}

/// Markdown link targets (`[text](target)`), resolved from the file they are in.
fn links(text: &str) -> Vec<String> {
    text.match_indices("](")
        .filter_map(|(i, _)| {
            let rest = &text[i + 2..];
            rest.find(')').map(|end| rest[..end].to_owned())
        })
        .filter(|t| !t.starts_with("http") && !t.starts_with('#') && !t.starts_with("mailto:"))
        .collect()
}

/// Backticked tokens that name a path: resolved from the repository's root when their first
/// part is an entry of it (`shared/aws/src/voice.rs`), and always wrong when they climb out.
fn named_paths(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(|t| t.trim_end_matches(['.', ',', ':']))
        .filter(|t| {
            t.contains('/')
                && !t.contains(char::is_whitespace)
                && !t.contains("://")
                && !t.contains(['{', '*', '$', '<', '…', '='])
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_readme_and_docs_link_only_to_files_in_the_repository() {
    let root = root().canonicalize().unwrap();
    let mut docs = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push(path);
        }
    }
    let mut broken = Vec::new();
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap();
        let base = doc.parent().unwrap();
        for link in links(&text) {
            let target = link.split('#').next().unwrap_or(&link);
            match inside(&root, base, target) {
                Some(p) if p.exists() => {}
                Some(_) => broken.push(format!("{}: link {link} does not exist", doc.display())),
                None => broken.push(format!(
                    "{}: link {link} leaves the repository",
                    doc.display()
                )),
            }
        }
        for path in named_paths(&text) {
            if path.starts_with("../") {
                broken.push(format!(
                    "{}: `{path}` is outside the repository",
                    doc.display()
                ));
                continue;
            }
            let first = path
                .trim_start_matches("./")
                .split('/')
                .next()
                .unwrap_or("");
            if !first.is_empty() && root.join(first).exists() && !root.join(&path).exists() {
                broken.push(format!("{}: `{path}` does not exist", doc.display()));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn a_path_above_the_repository_or_a_missing_one_is_caught() {
    let root = root().canonicalize().unwrap();
    assert!(inside(&root, &root, "../shared/SPEC.md").is_none());
    assert!(inside(&root, &root.join("docs"), "../README.md").is_some());
    let text = "see `../shared/SPEC.md`, [d](docs/DESIGN.md), `POST /v1/x`, `alias/mfa-data`";
    assert_eq!(links(text), vec!["docs/DESIGN.md"]);
    assert_eq!(
        named_paths(text),
        vec!["../shared/SPEC.md", "alias/mfa-data"]
    );
}
